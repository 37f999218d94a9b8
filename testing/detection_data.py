"""Small generated detection datasets with known boxes: shapes pasted on textured canvases,
written in the COCO layout (`annotations.json` beside the images) and the YOLO layout
(`images/`, `labels/*.txt`, `data.yaml`). Tests and benchmarks draw them; nothing else.

Each image holds 1-3 shapes (circle, square, triangle; each class its own colour and shape)
on a noisy striped canvas, so a detector has to find the object, not the canvas.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from hoot.testing.images import CLASSES


@dataclass
class DrawnImage:
    """One generated image: its file name, size and boxes (xyxy pixels) with class indices."""

    file_name: str
    width: int
    height: int
    boxes: list[tuple[float, float, float, float]]
    labels: list[int]


def textured_canvas(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """A dim striped canvas with pixel noise: texture a detector must learn to ignore."""
    base = rng.integers(20, 80, 3)
    yy, xx = np.mgrid[0:height, 0:width]
    period = int(rng.integers(4, 10))
    stripes = ((xx + yy * int(rng.integers(0, 2))) // period % 2)[..., None] * rng.integers(0, 25, 3)
    noise = rng.integers(0, 20, (height, width, 3))
    return Image.fromarray(np.clip(base + stripes + noise, 0, 255).astype(np.uint8), "RGB")


def paste_shape(im: Image.Image, class_index: int, box: tuple[int, int, int, int], rng: np.random.Generator) -> None:
    """Draw class `class_index`'s shape filling `box` (x1, y1, x2, y2, inclusive pixels)."""
    d = ImageDraw.Draw(im)
    colour = [60, 60, 60]
    colour[class_index % 3] = int(rng.integers(190, 256))
    x1, y1, x2, y2 = box
    if class_index % 3 == 0:
        d.ellipse([x1, y1, x2, y2], fill=tuple(colour))
    elif class_index % 3 == 1:
        d.rectangle([x1, y1, x2, y2], fill=tuple(colour))
    else:
        d.polygon([(x1, y2), (x2, y2), ((x1 + x2) // 2, y1)], fill=tuple(colour))


def draw_images(out_dir: Path, count: int, size: int = 64, seed: int = 0, classes: tuple[str, ...] = CLASSES,
                max_objects: int = 3, background_every: int = 0) -> list[DrawnImage]:
    """Write `count` PNGs into `out_dir`; every `background_every`-th image (if > 0) holds no object."""
    rng = np.random.default_rng(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    drawn: list[DrawnImage] = []
    for i in range(count):
        im = textured_canvas(rng, size, size)
        boxes: list[tuple[float, float, float, float]] = []
        labels: list[int] = []
        n = 0 if background_every and i % background_every == background_every - 1 else int(rng.integers(1, max_objects + 1))
        for k in range(n):
            c = (i + k) % len(classes)  # every class appears, also in small sets
            s = int(rng.integers(size // 5, size // 2))
            x1, y1 = (int(v) for v in rng.integers(0, size - s, 2))
            paste_shape(im, c, (x1, y1, x1 + s - 1, y1 + s - 1), rng)
            boxes.append((float(x1), float(y1), float(x1 + s), float(y1 + s)))
            labels.append(c)
        name = f"img_{i:04d}.png"
        im.save(out_dir / name)
        drawn.append(DrawnImage(name, size, size, boxes, labels))
    return drawn


def coco_document(drawn: list[DrawnImage], classes: tuple[str, ...] = CLASSES, category_base: int = 1) -> dict:
    """The COCO json for `drawn` (bbox = [x, y, w, h]; category ids start at `category_base`)."""
    images, annotations = [], []
    for i, d in enumerate(drawn):
        images.append({"id": i + 1, "file_name": d.file_name, "width": d.width, "height": d.height})
        for (x1, y1, x2, y2), c in zip(d.boxes, d.labels):
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "category_id": c + category_base,
                                "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1), "iscrowd": 0})
    categories = [{"id": k + category_base, "name": n} for k, n in enumerate(classes)]
    return {"images": images, "annotations": annotations, "categories": categories}


def make_coco(root: Path, count: int = 12, size: int = 64, seed: int = 0, classes: tuple[str, ...] = CLASSES,
              background_every: int = 0) -> list[DrawnImage]:
    """`root/*.png` + `root/annotations.json`; returns the known boxes."""
    drawn = draw_images(root, count, size, seed, classes, background_every=background_every)
    (root / "annotations.json").write_text(json.dumps(coco_document(drawn, classes)))
    return drawn


def make_yolo(root: Path, count: int = 12, size: int = 64, seed: int = 0, classes: tuple[str, ...] = CLASSES,
              background_every: int = 0) -> list[DrawnImage]:
    """`root/images/*.png`, `root/labels/*.txt` (class cx cy w h, normalised), `root/data.yaml`."""
    drawn = draw_images(root / "images", count, size, seed, classes, background_every=background_every)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    for d in drawn:
        lines = [f"{c} {(x1 + x2) / 2 / d.width:.6f} {(y1 + y2) / 2 / d.height:.6f} "
                 f"{(x2 - x1) / d.width:.6f} {(y2 - y1) / d.height:.6f}"
                 for (x1, y1, x2, y2), c in zip(d.boxes, d.labels)]
        if lines:  # a background image has no label file, as YOLO tools write it
            (root / "labels" / (Path(d.file_name).stem + ".txt")).write_text("\n".join(lines) + "\n")
    names = "\n".join(f"  {i}: {n}" for i, n in enumerate(classes))
    (root / "data.yaml").write_text(f"path: .\ntrain: images\nval: images\nnc: {len(classes)}\nnames:\n{names}\n")
    return drawn
