"""Tiny image datasets the trainer tests write: 32-48 px PNGs with a learnable signal
(each class its own colour and shape), small enough for a 2-core CI machine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
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


@pytest.fixture
def shapes(tmp_path) -> Path:
    """3 classes x 12 images, 40 px."""
    return make_imagefolder(tmp_path / "shapes")


@pytest.fixture
def shapes_big(tmp_path) -> Path:
    """3 classes x 40 images, 32 px: enough for a short training run to learn something."""
    return make_imagefolder(tmp_path / "shapes_big", per_class=40, size=32)


def tiny_config(data_dir, tmp_path, **kw):
    from trainer.config import ShortlistConfig

    base = dict(data_dir=str(data_dir), candidates=["mobilenet_v3_small"], pretrained=False, output=str(tmp_path / "reports"),
                run_id="t", batch_size=8, steps=3, image_size=32, full_epochs=1, num_threads=2)
    base.update(kw)
    return ShortlistConfig(**base)
