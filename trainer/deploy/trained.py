"""Load a finished run's best model (for predict and export): weights + the metadata to use them.

The run folder itself is found by hoot.trainer.runfiles.locate_run(..., trained=True)."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from hoot.advisor.errors import HootError
from hoot.trainer.runfiles import load_checkpoint


def load_trained(run_dir: Path) -> tuple[nn.Module, dict]:
    """(model in eval mode on the CPU, checkpoint metadata). weights_only=True: a checkpoint is data, not code."""
    from hoot.bench.models import build_model

    ckpt = load_checkpoint(run_dir / "best.pt")
    if ckpt.get("hoot_checkpoint") is None:
        raise HootError(f"'{run_dir / 'best.pt'}' is not a hoot checkpoint")
    model = build_model(ckpt["variant"], task=ckpt["task"], num_classes=len(ckpt["classes"]), pretrained=False)
    try:
        model.load_state_dict(ckpt["model"])
    except (RuntimeError, KeyError) as exc:
        raise HootError(f"'{run_dir / 'best.pt'}' does not match {ckpt.get('variant')} ({type(exc).__name__}); "
                        "re-run the fine-tune") from None
    model.eval()
    meta = {k: v for k, v in ckpt.items() if k != "model"}
    return model, meta
