"""Load a finished run's best model (for predict and export): weights + the metadata to use them."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from hoot.advisor.errors import HootError
from hoot.trainer.runfiles import load_checkpoint, locate_run


def find_run(run: str, output: str = "reports") -> Path:
    """The folder of a finished run with a best.pt: a run folder path, a run id under `output`, or
    a run id from hoot's index of run folders (hoot.trainer.runfiles)."""
    try:
        path = locate_run(run, output)
    except HootError:
        if Path(run).is_dir() and not (Path(run) / "best.pt").is_file():
            raise HootError(f"'{run}' has no best.pt and no config.json: not a hoot run folder; pass a folder made by "
                            "hoot shortlist") from None
        raise
    if not (path / "best.pt").is_file():
        raise HootError(f"run '{path}' has no best.pt yet (it did not finish); finish it with "
                        f"`hoot shortlist --resume {path.name} --output {path.parent}`")
    return path


def load_trained(run_dir: Path) -> tuple[nn.Module, dict]:
    """(model in eval mode on the CPU, checkpoint metadata). weights_only=True: a checkpoint is data, not code."""
    from hoot.trainer.tasks import get_task

    ckpt = load_checkpoint(run_dir / "best.pt")
    if ckpt.get("hoot_checkpoint") is None:
        raise HootError(f"'{run_dir / 'best.pt'}' is not a hoot checkpoint")
    model = get_task(ckpt["task"]).build_model(ckpt["variant"], len(ckpt["classes"]), pretrained=False)
    try:
        model.load_state_dict(ckpt["model"])
    except (RuntimeError, KeyError) as exc:
        raise HootError(f"'{run_dir / 'best.pt'}' does not match {ckpt.get('variant')} ({type(exc).__name__}); "
                        "re-run the fine-tune") from None
    model.eval()
    meta = {k: v for k, v in ckpt.items() if k != "model"}
    return model, meta
