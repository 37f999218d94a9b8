"""`hoot predict RUN IMAGE...`: the run's task answers for each image (top-k classes, tags over a
threshold, mask PNGs and overlays, boxes), with the run's own preprocessing (the cache's resize +
centre crop, the weights' normalisation)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from hoot.advisor.errors import HootError
from hoot.trainer.data.cache import decode_resized
from hoot.trainer.data.dataset import probe_image
from hoot.trainer.data.pipeline import Normalizer
from hoot.trainer.deploy.trained import load_trained
from hoot.trainer.tasks import get_task
from hoot.trainer.tasks.base import PredictOptions


def predict_images(run_dir: Path, images: list[str], top_k: int = 5, threshold: float = 0.5,
                   score_threshold: float = 0.5, out_dir: Path | None = None) -> list[dict[str, Any]]:
    """The task's rows (one table row each); files the task writes go to `out_dir` (default
    `<run>/predictions`)."""
    if not images:
        raise HootError("no images given; pass one or more image files: hoot predict RUN a.jpg b.png")
    if top_k < 1:
        raise HootError(f"--top {top_k} must be at least 1")
    model, meta = load_trained(run_dir)
    size = int(meta["image_size"])
    arrays = []
    for img in images:
        p = Path(img)
        if not p.is_file():
            raise HootError(f"image '{img}' does not exist or is not a file")
        probed = probe_image(p)
        if isinstance(probed, str):
            raise HootError(f"image '{img}' cannot be used: {probed}")
        try:
            arrays.append(decode_resized(str(p), size))
        except OSError as exc:
            raise HootError(f"image '{img}' cannot be decoded ({exc})") from None
    norm = Normalizer(meta["mean"], meta["std"])
    x = norm(torch.from_numpy(np.stack(arrays)))
    options = PredictOptions(top_k, threshold, score_threshold, Path(out_dir) if out_dir else Path(run_dir) / "predictions")
    return get_task(meta["task"]).predict(model, x, images, meta["classes"], options)
