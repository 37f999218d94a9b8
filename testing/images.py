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


# -- scenes for the dense tasks: shapes on textured canvases, with masks and boxes ---------------------

#: class 0 is the background; shape classes follow CLASSES' colours and shapes
SCENE_CLASSES = ("background",) + CLASSES


def draw_scene(rng: np.random.Generator, size: int = 48, max_shapes: int = 3,
               classes: int = len(CLASSES)) -> tuple[Image.Image, np.ndarray, list[tuple[int, int, int, int, int]]]:
    """(RGB image, class-index mask (H, W) uint8 with 0 = background, boxes [(x1, y1, x2, y2, class)]
    with class counted from 1 like the mask) for 1..max_shapes shapes on a noisy textured canvas.
    Later shapes cover earlier ones in the mask; boxes are the drawn extents (the detection helper's
    generator in hoot.testing.detection_data may build on this one)."""
    base = rng.integers(20, 90, 3)
    noise = rng.integers(-25, 26, (size, size, 3))
    stripes = (np.arange(size)[:, None] // max(2, size // 8) % 2 * 12)[..., None]
    canvas = np.clip(base + noise + stripes, 0, 255).astype(np.uint8)
    im = Image.fromarray(canvas, "RGB")
    mask_im = Image.new("L", (size, size), 0)
    d, dm = ImageDraw.Draw(im), ImageDraw.Draw(mask_im)
    boxes = []
    for _ in range(int(rng.integers(1, max_shapes + 1))):
        c = int(rng.integers(0, classes))
        s = int(rng.integers(size // 4, size // 2 + 2))
        x, y = (int(v) for v in rng.integers(1, size - s - 1, 2))
        colour = [60, 60, 60]
        colour[c % 3] = int(rng.integers(190, 256))
        box = [x, y, x + s, y + s]
        if c % 3 == 0:
            d.ellipse(box, fill=tuple(colour)); dm.ellipse(box, fill=c + 1)
        elif c % 3 == 1:
            d.rectangle(box, fill=tuple(colour)); dm.rectangle(box, fill=c + 1)
        else:
            tri = [(x, y + s), (x + s, y + s), (x + s // 2, y)]
            d.polygon(tri, fill=tuple(colour)); dm.polygon(tri, fill=c + 1)
        boxes.append((x, y, x + s + 1, y + s + 1, c + 1))
    return im, np.asarray(mask_im, dtype=np.uint8).copy(), boxes


def make_segmentation(root: Path, n: int = 24, size: int = 48, seed: int = 0, layout: str = "masks",
                      classes_txt: bool = True) -> Path:
    """A segmentation dataset at `root` in one of the layouts hoot reads:
    - "masks": images/<stem>.png + masks/<stem>.png (pixel = class index), classes.txt;
    - "split": the same pair under train/, val/ and test/ (n images each in train, n // 3 in val and test);
    - "voc": JPEGImages/<stem>.jpg + SegmentationClass/<stem>.png palette PNGs (class 255 = ignore at borders)."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)

    def write(folder: Path, count: int, prefix: str, voc: bool = False) -> None:
        img_dir = folder / ("JPEGImages" if voc else "images")
        mask_dir = folder / ("SegmentationClass" if voc else "masks")
        img_dir.mkdir(parents=True, exist_ok=True)
        mask_dir.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            im, mask, _ = draw_scene(rng, size)
            stem = f"{prefix}{i:04d}"
            if voc:
                im.save(img_dir / f"{stem}.jpg", quality=95)
                mask = mask.copy()
                mask[0, :] = 255  # VOC's "void" border
                pal = Image.fromarray(mask, "P")
                pal.putpalette(_voc_palette())
                pal.save(mask_dir / f"{stem}.png")
            else:
                im.save(img_dir / f"{stem}.png")
                Image.fromarray(mask, "L").save(mask_dir / f"{stem}.png")

    if layout == "split":
        for name, count in (("train", n), ("val", max(2, n // 3)), ("test", max(2, n // 3))):
            write(root / name, count, f"{name}_")
    else:
        write(root, n, "img_", voc=layout == "voc")
    if classes_txt and layout != "voc":
        (root / "classes.txt").write_text("\n".join(SCENE_CLASSES) + "\n")
    return root


def _voc_palette() -> list[int]:
    """Pascal VOC's colour map (the bit-interleaved one its devkit builds), 256 entries."""
    pal = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal += [r, g, b]
    return pal
