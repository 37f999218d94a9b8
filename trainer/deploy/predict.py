"""`hoot predict RUN IMAGE...`: top-k classes (softmax) or tags over a threshold (sigmoid, multi-label)
with the run's own preprocessing (the cache's resize + centre crop, the weights' normalisation)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from hoot.advisor.errors import HootError
from hoot.trainer.data.inputs import load_images
from hoot.trainer.data.pipeline import Normalizer
from hoot.trainer.deploy.trained import load_trained


def predict_images(run_dir: Path, images: list[str], top_k: int = 5, threshold: float = 0.5) -> list[dict]:
    """One row per (image, class) in rank order: image, rank, class, probability."""
    if not images:
        raise HootError("no images given; pass one or more image files: hoot predict RUN a.jpg b.png")
    if top_k < 1:
        raise HootError(f"--top {top_k} must be at least 1")
    model, meta = load_trained(run_dir)
    size = int(meta["image_size"])
    pixels = load_images(images, size)
    norm = Normalizer(meta["mean"], meta["std"])
    with torch.inference_mode():
        logits = model(norm(torch.from_numpy(pixels)))
    multilabel = meta["task"] == "multilabel"
    probs = (torch.sigmoid(logits) if multilabel else torch.softmax(logits, dim=1)).numpy()
    classes = meta["classes"]
    rows = []
    for img, p in zip(images, probs):
        order = np.argsort(-p)[: min(top_k, len(classes))]
        for rank, c in enumerate(order, 1):
            if multilabel and rank > 1 and p[c] < threshold:
                break
            rows.append({"image": img, "rank": rank, "class": classes[c], "probability": float(p[c])})
    return rows
