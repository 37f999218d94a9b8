"""Multi-label's tagging threshold, selected on validation after the fine-tune (the task says it
wants one: `Task.selects_threshold`), recorded in best.pt for `hoot predict`."""

from __future__ import annotations

from typing import Any

from hoot.trainer.runfiles import atomic_torch_save, load_checkpoint
from hoot.trainer.tasks.label_metrics import best_threshold
from hoot.trainer.training.context import RunContext
from hoot.trainer.training.loop import predict_logits


def select_threshold(run: Any, ctx: RunContext) -> float | None:
    """Multi-label: the tagging threshold with the best micro F1 on validation, recorded in best.pt for
    `hoot predict` (the reported F1 figures stay at 0.5, comparable across runs)."""
    if not run.best_file.is_file():
        return None
    logits, y = predict_logits(run.model, ctx.val, run.norm, ctx.device, run.progress.batch_size, run.precision)
    threshold = best_threshold(logits, y)
    ckpt = load_checkpoint(run.best_file, "cpu")
    atomic_torch_save({**ckpt, "threshold": threshold}, run.best_file)
    ctx.log(f"multi-label threshold {threshold:.2f} selected on validation (best micro F1); hoot predict tags with it")
    return threshold
