"""Load a finished run's best model (for predict and export): weights + the metadata to use them."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from hoot.advisor.errors import HootError


def find_run(run: str, output: str = "reports") -> Path:
    """A run id under `output`, or a run folder path."""
    path = Path(run)
    if not (path / "best.pt").is_file():
        path = Path(output) / run
    if not path.is_dir():
        raise HootError(f"run '{run}' not found (looked for {Path(run)} and {path}); pass reports/<run-id> or --output")
    if not (path / "best.pt").is_file():
        raise HootError(f"run '{path}' has no best.pt yet; finish it with `hoot shortlist --resume {path.name}`")
    return path


def load_trained(run_dir: Path) -> tuple[nn.Module, dict]:
    """(model in eval mode on the CPU, checkpoint metadata). weights_only=True: a checkpoint is data, not code."""
    from hoot.bench.models import build_model

    try:
        ckpt = torch.load(run_dir / "best.pt", map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - truncated or foreign file
        raise HootError(f"'{run_dir / 'best.pt'}' cannot be loaded ({type(exc).__name__}); re-run the fine-tune") from None
    if not isinstance(ckpt, dict) or ckpt.get("hoot_checkpoint") is None:
        raise HootError(f"'{run_dir / 'best.pt'}' is not a hoot checkpoint")
    model = build_model(ckpt["variant"], task=ckpt["task"], num_classes=len(ckpt["classes"]), pretrained=False)
    model.load_state_dict(ckpt["model"])
    model.eval()
    meta = {k: v for k, v in ckpt.items() if k != "model"}
    return model, meta
