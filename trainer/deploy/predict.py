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


def predict_images(run_dir: Path, images: list[str], top_k: int = 5, threshold: float | None = None) -> list[dict]:
    """One row per (image, class) in rank order: image, rank, class, probability; multi-label rows
    also say whether the tag is given (`tagged`: probability at or over the threshold: `threshold`,
    else the one the run recorded, else 0.5), and --top rows are shown whether tagged or not."""
    if not images:
        raise HootError("no images given; pass one or more image files: hoot predict RUN a.jpg b.png")
    if top_k < 1:
        raise HootError(f"--top {top_k} must be at least 1")
    images = expand_images(images)
    model, meta = load_trained(run_dir)
    size = int(meta["image_size"])
    pixels = load_images(images, size)
    norm = Normalizer(meta["mean"], meta["std"])
    with torch.inference_mode():
        logits = model(norm(torch.from_numpy(pixels)))
    multilabel = meta["task"] == "multilabel"
    probs = (torch.sigmoid(logits) if multilabel else torch.softmax(logits, dim=1)).numpy()
    classes = meta["classes"]
    cut = float(threshold if threshold is not None else meta.get("threshold", 0.5))
    rows = []
    for img, p in zip(images, probs):
        order = np.argsort(-p)[: min(top_k, len(classes))]
        for rank, c in enumerate(order, 1):
            row = {"image": img, "rank": rank, "class": classes[c], "probability": float(p[c])}
            if multilabel:
                row["tagged"] = bool(p[c] >= cut)
            rows.append(row)
    return rows
