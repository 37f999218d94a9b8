"""Load a finished run's best model (for predict and export): weights + the metadata to use them.

The run folder itself is found by hoot.trainer.runfiles.locate_run(..., trained=True)."""

from __future__ import annotations

import json
from pathlib import Path

from torch import nn

from hoot.advisor.errors import HootError
from hoot.bench.models import deployable
from hoot.trainer.runfiles import load_checkpoint


def load_trained(run_dir: Path) -> tuple[nn.Module, dict]:
    """(model in eval mode on the CPU, in the form it ships, checkpoint metadata).
    weights_only=True: a checkpoint is data, not code."""
    from hoot.trainer.tasks import get_task

    ckpt = load_checkpoint(run_dir / "best.pt")
    if ckpt.get("hoot_checkpoint") is None:
        raise HootError(f"'{run_dir / 'best.pt'}' is not a hoot checkpoint")
    check_belongs(run_dir, ckpt)
    model = get_task(ckpt["task"]).build_model(ckpt["variant"], len(ckpt["classes"]), pretrained=False,
                                               image_size=int(ckpt["image_size"]) if ckpt.get("image_size") else None)
    try:
        model.load_state_dict(ckpt["model"])
    except (RuntimeError, KeyError) as exc:
        raise HootError(f"'{run_dir / 'best.pt'}' does not match {ckpt.get('variant')} ({type(exc).__name__}); "
                        "re-run the fine-tune") from None
    model = deployable(model.eval(), inplace=True)  # what export, predict and optimize ship: branches folded
    meta = {k: v for k, v in ckpt.items() if k != "model"}
    return model, meta


def _record(run_dir: Path, name: str) -> dict:
    """A JSON record of the run folder, or {} when it is missing or unreadable (nothing to compare)."""
    try:
        doc = json.loads((run_dir / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def check_belongs(run_dir: Path, ckpt: dict) -> None:
    """Refuse a best.pt that another run wrote (copied in, or left by an earlier run of the same id):
    its run id, settings fingerprint, model and classes must be this run's. A field either side
    lacks (checkpoints from before hoot recorded it) is not compared."""
    from hoot.trainer.config import settings_fingerprint

    config, bakeoff, dataset = (_record(run_dir, n) for n in ("config.json", "bakeoff.json", "dataset.json"))
    theirs: list[str] = []
    if ckpt.get("run_id") and config.get("run_id") and ckpt["run_id"] != config["run_id"]:
        theirs.append(f"run '{ckpt['run_id']}', not '{config['run_id']}'")
    elif ckpt.get("config_fingerprint") and config and ckpt["config_fingerprint"] != settings_fingerprint(config):
        theirs.append("other settings")
    if bakeoff.get("winner") and ckpt.get("variant") and bakeoff["winner"] != ckpt["variant"]:
        theirs.append(f"model {ckpt['variant']}, not the winner {bakeoff['winner']}")
    if dataset.get("classes") and ckpt.get("classes") is not None and list(dataset["classes"]) != list(ckpt["classes"]):
        theirs.append(f"{len(ckpt['classes'])} classes, not this run's {len(dataset['classes'])}")
    if theirs:
        rid = config.get("run_id") or run_dir.name
        raise HootError(f"'{run_dir / 'best.pt'}' belongs to another run ({'; '.join(theirs)}); delete it and "
                        f"re-create it with `hoot shortlist --resume {rid} --output {run_dir.parent}`")
