"""`hoot predict RUN IMAGE...`: the run's task answers for each image (top-k classes, tags over a
threshold, mask PNGs and overlays, boxes), with the run's own preprocessing (the cache's resize +
centre crop, the weights' normalisation)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from hoot.advisor.errors import HootError
from hoot.trainer.data.inputs import load_images
from hoot.trainer.data.pipeline import Normalizer
from hoot.trainer.deploy.trained import load_trained
from hoot.trainer.tasks import get_task
from hoot.trainer.tasks.base import PredictOptions


def expand_images(args: list[str]) -> list[str]:
    """Image files from the command line: files as given, a folder's images (recursively, sorted), and
    glob patterns (quoted, so the shell leaves them to hoot). Anything that names no image is one error."""
    import glob

    from hoot.advisor.dataset_scan import is_image_name

    out: list[str] = []
    for arg in args:
        p = Path(arg)
        if p.is_dir():
            found = sorted(str(f) for f in p.rglob("*") if f.is_file() and is_image_name(f.name))
            if not found:
                raise HootError(f"folder '{arg}' holds no images; pass image files, a folder of images or a glob")
            out.extend(found)
        elif not p.exists() and glob.has_magic(arg):
            found = sorted(f for f in glob.glob(arg, recursive=True) if Path(f).is_file())
            if not found:
                raise HootError(f"pattern '{arg}' matches no file; check it (quote it so hoot expands it, e.g. 'img/*.jpg')")
            out.extend(found)
        else:
            out.append(arg)
    return out


def predict_images(run_dir: Path, images: list[str], top_k: int = 5, threshold: float | None = None,
                   score_threshold: float = 0.5, out_dir: Path | None = None) -> list[dict[str, Any]]:
    """The task's rows (one table row each); files the task writes go to `out_dir` (default
    `<run>/predictions`). Multi-label: `threshold`, else the one the run selected on validation, else 0.5."""
    if not images:
        raise HootError("no images given; pass one or more image files: hoot predict RUN a.jpg b.png")
    if top_k < 1:
        raise HootError(f"--top {top_k} must be at least 1")
    images = expand_images(images)
    model, meta = load_trained(run_dir)
    pixels = load_images(images, int(meta["image_size"]))
    norm = Normalizer(meta["mean"], meta["std"])
    x = norm(torch.from_numpy(pixels))
    cut = float(threshold if threshold is not None else meta.get("threshold", 0.5))
    options = PredictOptions(top_k, cut, score_threshold, Path(out_dir) if out_dir else Path(run_dir) / "predictions")
    return get_task(meta["task"]).predict(model, x, images, meta["classes"], options)
