"""Scan an ImageFolder dataset (one folder per class) without torch.

`hoot advise --dataset PATH` needs only counts and image sizes: the number of images
decides the fine-tuning strategy (seeds/004) and the dataset-size fit (seeds/000), the
median image size is held against each backbone's input size (seeds/001). Image sizes
come from PIL's header read (no pixel decode), sampled when the dataset is large, so a
scan of thousands of files stays fast. The trainer validates images fully before it
trains; this scan only reports what it can read cheaply.
"""

from __future__ import annotations

import os
import random
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hoot.advisor.errors import HootError

#: the extensions torchvision's ImageFolder accepts (torchvision.datasets.folder.IMG_EXTENSIONS) plus GIF,
#: which Pillow decodes; the one list both `hoot advise --dataset` and `hoot shortlist` count by
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp", ".gif")
#: split folder names recognised under the root (root/train/<class>/..., root/val/<class>/...)
SPLIT_NAMES = ("train", "training", "val", "valid", "validation", "test")
#: how many image headers to read at most for the size distribution
DEFAULT_SIZE_SAMPLE = 2000


@dataclass
class DatasetSummary:
    """What a scan found: counts per class (and split) and the image-size distribution."""

    path: str
    n_images: int  # images in the training split (all images when there are no splits)
    n_classes: int
    per_class: dict[str, int]
    splits: dict[str, int] = field(default_factory=dict)  # split -> image count ({} without splits)
    sizes_read: int = 0  # headers read for the size distribution
    sampled: bool = False
    unreadable: int = 0  # sampled files PIL could not identify
    median_width_px: float | None = None
    median_height_px: float | None = None
    median_short_side_px: float | None = None
    short_side_p10_px: float | None = None
    short_side_p90_px: float | None = None
    empty_classes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def imbalance_ratio(self) -> float | None:
        """Largest class over smallest non-empty class."""
        counts = [c for c in self.per_class.values() if c > 0]
        return max(counts) / min(counts) if counts else None

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items()}
        out["imbalance_ratio"] = None if self.imbalance_ratio is None else round(self.imbalance_ratio, 2)
        return out


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith(".")


def _class_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _images_under(class_dir: Path) -> list[str]:
    """Image files below a class folder (recursively, like ImageFolder)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(class_dir, followlinks=True):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        found.extend(os.path.join(dirpath, f) for f in filenames if _is_image(f))
    return found


def _percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated percentile of an already sorted list (q in 0..100)."""
    pos = (len(sorted_values) - 1) * q / 100
    lo, hi = int(pos), min(int(pos) + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _read_sizes(files: list[str], sample: int, seed: int) -> tuple[list[tuple[int, int]], int, bool]:
    """(width, height) of up to `sample` files from their headers; (sizes, unreadable, sampled)."""
    from PIL import Image, UnidentifiedImageError  # only the dataset path pays for PIL

    sampled = len(files) > sample
    chosen = random.Random(seed).sample(files, sample) if sampled else files
    sizes, unreadable = [], 0
    for path in chosen:
        try:
            with Image.open(path) as im:  # lazy: reads the header, not the pixels
                sizes.append(im.size)
        except (UnidentifiedImageError, OSError, ValueError):
            unreadable += 1
    return sizes, unreadable, sampled


def scan_dataset(path: str | os.PathLike[str], sample: int = DEFAULT_SIZE_SAMPLE, seed: int = 0) -> DatasetSummary:
    """Count images per class and measure the image-size distribution of an ImageFolder.

    Accepts root/<class>/<image> or root/<split>/<class>/<image> (train/val/test); with
    splits, counts and sizes describe the training split. Bad layouts raise HootError.
    """
    root = Path(path).expanduser()
    if not root.exists():
        raise HootError(f"dataset path '{root}' does not exist; pass a folder with one sub-folder per class")
    if not root.is_dir():
        raise HootError(f"dataset path '{root}' is a file; pass a folder with one sub-folder per class")
    try:
        subdirs = _class_dirs(root)
    except PermissionError:
        raise HootError(f"dataset path '{root}' cannot be read; check its permissions") from None
    split_dirs = {d.name.lower(): d for d in subdirs if d.name.lower() in SPLIT_NAMES}
    splits: dict[str, int] = {}
    if split_dirs and len(split_dirs) == len(subdirs):
        train_name = next((n for n in ("train", "training") if n in split_dirs), None)
        for name, d in split_dirs.items():
            splits[name] = sum(len(_images_under(c)) for c in _class_dirs(d))
        main_dir = split_dirs[train_name] if train_name else next(iter(split_dirs.values()))
    else:
        main_dir = root
    classes = _class_dirs(main_dir)
    if not classes:
        loose = [f for f in os.listdir(main_dir) if _is_image(f)]
        hint = f" (found {len(loose)} loose images: move them into one folder per class)" if loose else ""
        raise HootError(f"dataset path '{main_dir}' holds no class folders{hint}; "
                        "expected <root>/<class>/<image> as torchvision's ImageFolder reads it")
    files_by_class = {c.name: _images_under(c) for c in classes}
    per_class = {name: len(files) for name, files in files_by_class.items()}
    n_images = sum(per_class.values())
    if n_images == 0:
        raise HootError(f"dataset path '{main_dir}' has {len(classes)} class folders but no images "
                        f"({', '.join(IMAGE_EXTENSIONS)}); add images to the class folders")
    summary = DatasetSummary(
        path=str(root), n_images=n_images, n_classes=len(classes), per_class=per_class, splits=splits,
        empty_classes=[name for name, n in per_class.items() if n == 0],
    )
    if summary.empty_classes:
        summary.warnings.append(f"{len(summary.empty_classes)} empty class folder(s): {', '.join(summary.empty_classes[:5])}")
    if splits and not any(n in splits for n in ("val", "valid", "validation")):
        summary.warnings.append("no validation split (val/): the trainer will hold out part of train")
    all_files = [f for files in files_by_class.values() for f in files]
    sizes, summary.unreadable, summary.sampled = _read_sizes(all_files, sample, seed)
    summary.sizes_read = len(sizes)
    if summary.unreadable:
        summary.warnings.append(f"{summary.unreadable} of {len(sizes) + summary.unreadable} sampled files are not "
                                "readable images")
    if sizes:
        shorts = sorted(min(w, h) for w, h in sizes)
        summary.median_width_px = float(statistics.median(w for w, _ in sizes))
        summary.median_height_px = float(statistics.median(h for _, h in sizes))
        summary.median_short_side_px = float(statistics.median(shorts))
        summary.short_side_p10_px = round(_percentile(shorts, 10), 1)
        summary.short_side_p90_px = round(_percentile(shorts, 90), 1)
    return summary
