"""The report's detection pictures: test images with the ground-truth boxes beside the predicted
ones (class and score), and per-class AP bars. matplotlib, headless (Agg)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from hoot.trainer.tasks.base import Picture
from hoot.trainer.tasks.detection_augment import BoxTarget
from hoot.trainer.tasks.detection_models import BoxOutput

#: boxes drawn per predicted image (best first) and their lowest score
MAX_DRAWN, MIN_DRAWN_SCORE = 10, 0.3
MAX_IMAGES = 8


def _draw(ax, image: np.ndarray, boxes: list[list[float]], labels: list[str]) -> None:
    from matplotlib.patches import Rectangle

    ax.imshow(np.transpose(image, (1, 2, 0)))
    for (x1, y1, x2, y2), text in zip(boxes, labels):
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor="yellow", linewidth=1.2))
        ax.text(x1, y1, text, color="black", fontsize=6, backgroundcolor="yellow", va="bottom")
    ax.set_xticks([])
    ax.set_yticks([])


def boxes_grid(images: np.ndarray, truth: Sequence[BoxTarget], outputs: Sequence[BoxOutput], classes: list[str],
               path: Path) -> Picture:
    """Up to MAX_IMAGES rows: ground truth on the left, the prediction (class and score) on the right."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = min(len(images), MAX_IMAGES)
    fig, axes = plt.subplots(n, 2, figsize=(5, 2.5 * n), squeeze=False)
    for i in range(n):
        t, o = truth[i], outputs[i]
        _draw(axes[i][0], images[i], t.boxes.tolist(), [classes[c] for c in t.labels.tolist()])
        keep = (o.scores >= MIN_DRAWN_SCORE).nonzero().flatten()[:MAX_DRAWN]
        _draw(axes[i][1], images[i], o.boxes[keep].tolist(),
              [f"{classes[c]} {s:.2f}" for c, s in zip(o.labels[keep].tolist(), o.scores[keep].tolist())])
    axes[0][0].set_title("ground truth", fontsize=8)
    axes[0][1].set_title(f"prediction (score >= {MIN_DRAWN_SCORE})", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Picture(path, "test images: ground truth beside prediction")


def ap_bars(classes: list[str], ap: Sequence[float | None], path: Path) -> Picture:
    """Per-class AP@[.5:.95] on the test split (a class absent from it has no bar, and says so)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = [0.0 if v is None else float(v) for v in ap]
    fig, ax = plt.subplots(figsize=(max(4, 0.6 * len(classes)), 3))
    ax.bar(range(len(classes)), values, color=["grey" if v is None else "tab:blue" for v in ap])
    ax.set_xticks(range(len(classes)), [c if v is not None else f"{c}\n(absent)" for c, v in zip(classes, ap)],
                  rotation=45, ha="right", fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("AP@[.5:.95]")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Picture(path, "per-class AP on the test split")
