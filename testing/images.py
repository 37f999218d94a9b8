"""Tiny image datasets the tests draw: 32-48 px PNGs with a learnable signal (each class its own
colour and shape), small enough for a 2-core CI machine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

CLASSES = ("red_circle", "green_square", "blue_triangle")


def draw(class_index: int, rng: np.random.Generator, size: int = 40) -> Image.Image:
    """A random background with one shape; colour and shape both identify the class."""
    bg = tuple(int(v) for v in rng.integers(0, 90, 3))
    im = Image.new("RGB", (size, size), bg)
    d = ImageDraw.Draw(im)
    s = int(rng.integers(size // 3, size // 2 + 4))
    x, y = (int(v) for v in rng.integers(2, size - s - 1, 2))
    colour = [60, 60, 60]
    colour[class_index % 3] = int(rng.integers(190, 256))
    colour = tuple(colour)
    if class_index % 3 == 0:
        d.ellipse([x, y, x + s, y + s], fill=colour)
    elif class_index % 3 == 1:
        d.rectangle([x, y, x + s, y + s], fill=colour)
    else:
        d.polygon([(x, y + s), (x + s, y + s), (x + s // 2, y)], fill=colour)
    return im


def make_imagefolder(root: Path, per_class: int = 12, classes=CLASSES, size: int = 40, seed: int = 0, ext: str = ".png") -> Path:
    rng = np.random.default_rng(seed)
    for ci, name in enumerate(classes):
        d = root / name
        d.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            draw(ci, rng, size).save(d / f"{name}_{i:03d}{ext}")
    return root


def tiny_config(data_dir: Any, tmp_path: Path, **kw: Any) -> Any:
    """A ShortlistConfig for a seconds-long run on a drawn folder (one small candidate, 3 steps)."""
    from hoot.trainer.config import ShortlistConfig

    base = dict(data_dir=str(data_dir), candidates=["mobilenet_v3_small"], pretrained=False, output=str(tmp_path / "reports"),
                run_id="t", batch_size=8, steps=3, image_size=32, full_epochs=1, num_threads=2)
    base.update(kw)
    return ShortlistConfig(**base)
