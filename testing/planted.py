"""A digits image folder with planted problems, for `hoot doctor`'s tests and benchmarks/doctor_recall.py.

scikit-learn's 8x8 digits upsampled to 64 px PNGs, one folder per digit (or train/ and test/
folders), and a record of what was planted: exact copies, near copies (JPEG quality 60 and a
few pixels smaller), copies under another label, copies across split folders and flipped
labels. The truth is what the doctor must find.
"""

from __future__ import annotations

import io
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass
class Planted:
    """Paths (as written) of each planted problem; pairs are (original, copy)."""

    root: Path
    exact: list[tuple[str, str]] = field(default_factory=list)
    near: list[tuple[str, str]] = field(default_factory=list)
    cross_label: list[tuple[str, str]] = field(default_factory=list)
    leaks: list[tuple[str, str]] = field(default_factory=list)  # (train image, its copy in test/)
    flipped: list[str] = field(default_factory=list)  # images filed under a wrong digit
    n_images: int = 0


def digit_image(pixels_8x8: np.ndarray, size: int = 64) -> Image.Image:
    a = (np.asarray(pixels_8x8) / 16 * 255).astype(np.uint8)
    return Image.fromarray(a).resize((size, size), Image.BILINEAR).convert("RGB")


def degrade(im: Image.Image, shrink_px: int = 3, quality: int = 60) -> Image.Image:
    """A near copy: a few pixels smaller, re-encoded as JPEG at `quality`."""
    buf = io.BytesIO()
    im.resize((im.width - shrink_px, im.height - shrink_px), Image.BILINEAR).save(buf, "JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def make_planted(root: Path, n_images: int = 500, n_exact: int = 5, n_near: int = 5, n_cross: int = 3,
                 n_leaks: int = 4, n_flips: int = 15, classes: int = 10, seed: int = 0, size: int = 64) -> Planted:
    """Write the folder (train/ and test/ when n_leaks > 0, else plain class folders) and return the truth."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(seed)
    keep = np.nonzero(digits.target < classes)[0]
    chosen = rng.choice(keep, size=n_images, replace=False)
    root = Path(root)
    if root.exists():
        shutil.rmtree(root)
    train = root / "train" if n_leaks else root
    truth = Planted(root)
    paths: list[tuple[Path, int]] = []
    flip_at = set(rng.choice(len(chosen), size=n_flips, replace=False).tolist())
    for k, idx in enumerate(chosen):
        label = int(digits.target[idx])
        if k in flip_at:
            label = int((label + rng.integers(1, classes)) % classes)
        path = train / f"d{label}" / f"img_{k:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        digit_image(digits.images[idx], size).save(path)
        if k in flip_at:
            truth.flipped.append(str(path))
        else:
            paths.append((path, label))
    order = rng.permutation(len(paths)).tolist()
    take = iter(order)

    def original() -> tuple[Path, int]:
        return paths[next(take)]

    for i in range(n_exact):
        src, label = original()
        dst = src.with_name(f"copy_{i:03d}.png")
        shutil.copyfile(src, dst)
        truth.exact.append((str(src), str(dst)))
    for i in range(n_near):
        src, label = original()
        dst = src.with_name(f"near_{i:03d}.jpg")
        degrade(Image.open(src), shrink_px=2 + i % 4).save(dst, quality=95)
        truth.near.append((str(src), str(dst)))
    for i in range(n_cross):
        src, label = original()
        other = (label + 1) % classes
        dst = train / f"d{other}" / f"cross_{i:03d}.png"
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        truth.cross_label.append((str(src), str(dst)))
    if n_leaks:
        used = set(order[:n_exact + n_near + n_cross])  # already copied above
        for c in range(classes):  # two images of every class move to test/, so the folder is a valid split
            mine = [k for k in order if paths[k][1] == c and k not in used][:2]
            for j, k in enumerate(mine):
                used.add(k)
                dst = root / "test" / f"d{c}" / f"test_{c}_{j}.png"
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(paths[k][0], dst)
        take = iter([k for k in order if k not in used])
        for i in range(n_leaks):
            src, label = original()
            dst = root / "test" / f"d{label}" / f"leak_{i:03d}"
            dst = dst.with_suffix(".jpg" if i % 2 else ".png")
            dst.parent.mkdir(parents=True, exist_ok=True)
            if i % 2:
                degrade(Image.open(src)).save(dst, quality=95)
            else:
                shutil.copyfile(src, dst)
            truth.leaks.append((str(src), str(dst)))
    truth.n_images = sum(1 for p in root.rglob("*") if p.is_file())
    return truth
