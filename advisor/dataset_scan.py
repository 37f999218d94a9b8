"""Scan an ImageFolder dataset (one folder per class) without torch.

`hoot advise --dataset PATH` needs only counts and image sizes: the number of images
decides the fine-tuning strategy (seeds/004) and the dataset-size fit (seeds/000), the
median image size is held against each backbone's input size (seeds/001). Image sizes
come from PIL's header read (no pixel decode), sampled when the dataset is large, so a
scan of thousands of files stays fast. The trainer validates images fully before it
trains; this scan only reports what it can read cheaply.

The rules for what counts live here once, for this summary and the trainer's one scanner (its
layout readers in hoot.trainer.data.dataset and hoot.trainer.tasks build on them): image extensions, split folder names, hidden files skipped, folders walked
once even through symlinks (a link back to the root is not a second copy of the data), class
folder names that are not valid UTF-8 shown escaped, and the header probe that refuses
zero-byte files and decompression bombs before any pixel is decoded.
"""

from __future__ import annotations

import os
import random
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hoot.advisor.errors import HootError
from hoot.advisor.paths import existing_folder

#: the extensions torchvision's ImageFolder accepts (torchvision.datasets.folder.IMG_EXTENSIONS) plus GIF,
#: which Pillow decodes; the one list both `hoot advise --dataset` and `hoot shortlist` count by
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp", ".gif")
#: split folder names recognised under the root (root/train/<class>/..., root/val/<class>/...), by split
SPLIT_ALIASES = {"train": ("train", "training"), "val": ("val", "valid", "validation"), "test": ("test", "testing")}
SPLIT_NAMES = tuple(n for names in SPLIT_ALIASES.values() for n in names)
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


def is_image_name(name: str) -> bool:
    """An image by its extension, and not a hidden file (macOS `._x.jpg` forks, editors' temporaries)."""
    return name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith(".")


_is_image = is_image_name


def display_name(name: str) -> str:
    """A folder name as text that can be written anywhere: bytes that are not UTF-8 (which
    Python keeps as surrogates) become \\xNN escapes, so two such names stay distinct."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        return os.fsencode(name).decode("utf-8", errors="backslashreplace")


def class_dirs(root: Path) -> list[Path]:
    """Sub-folders that are classes (not hidden), in a stable order."""
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


_class_dirs = class_dirs


def folder_key(path: str | os.PathLike[str]) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def fence(*folders: Path) -> set[tuple[int, int]]:
    """The `seen` set to start walks with: the root, split and class folders, so a symlink into
    any of them from inside a class folder adds nothing (each class folder is walked itself)."""
    out = set()
    for f in folders:
        try:
            out.add(folder_key(f))
        except OSError:
            pass
    return out


def walk_images(folder: Path, seen: set[tuple[int, int]] | None = None) -> list[str]:
    """Image files below `folder` (recursively, like ImageFolder, following symlinks), each real
    folder visited once: a symlink back to an ancestor or into a folder in `seen` (see `fence`)
    adds nothing. `folder` itself is always walked."""
    seen = set() if seen is None else seen
    found: list[str] = []
    top = True
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        try:
            st = os.stat(dirpath)
        except OSError:
            dirnames[:] = []
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen and not top:
            dirnames[:] = []
            continue
        seen.add(key)
        top = False
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found.extend(os.path.join(dirpath, f) for f in sorted(filenames) if is_image_name(f))
    return found


_images_under = walk_images


def find_splits(root: Path) -> dict[str, Path]:
    """{"train": .., "val": .., "test": ..} when every sub-folder of `root` is a split folder and one
    is a training split (root/train/<class>/...); {} for a plain ImageFolder."""
    subdirs = class_dirs(root)
    found: dict[str, Path] = {}
    for d in subdirs:
        split = next((k for k, names in SPLIT_ALIASES.items() if d.name.lower() in names), None)
        if split is None:
            return {}
        found.setdefault(split, d)
    return found if "train" in found else {}


def probe_header(path: str | os.PathLike[str]) -> tuple[int, int] | str:
    """(width, height) from the image header, or the reason the file cannot be used: zero-byte,
    not an image, or a decompression bomb (over Pillow's MAX_IMAGE_PIXELS; its warning is an
    error here, so no bomb is ever decoded)."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        if os.stat(path).st_size == 0:
            return "zero-byte file"
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                return im.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return f"refused: decompression bomb (over Pillow's limit of {Image.MAX_IMAGE_PIXELS} pixels)"
    except UnidentifiedImageError:
        return "unreadable: not an image Pillow can identify"
    except (OSError, ValueError) as exc:
        return f"unreadable: {exc}"


def _percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated percentile of an already sorted list (q in 0..100)."""
    pos = (len(sorted_values) - 1) * q / 100
    lo, hi = int(pos), min(int(pos) + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _read_sizes(files: list[str], sample: int, seed: int) -> tuple[list[tuple[int, int]], dict[str, int], bool]:
    """(width, height) of up to `sample` files from their headers; (sizes, {reason: count}, sampled)."""
    sampled = len(files) > sample
    chosen = random.Random(seed).sample(files, sample) if sampled else files
    sizes, skipped = [], {}
    for path in chosen:
        probed = probe_header(path)  # lazy: reads the header, not the pixels
        if isinstance(probed, str):
            reason = probed.split(" (")[0].split(":")[0] if not probed.startswith("refused") else "decompression bomb"
            skipped[reason] = skipped.get(reason, 0) + 1
        else:
            sizes.append(probed)
    return sizes, skipped, sampled


def _measure_sizes(summary: DatasetSummary, files: list[str], sample: int, seed: int) -> None:
    """Fill the size distribution from the headers of (a sample of) `files`; unusable files become a warning."""
    sizes, skipped, summary.sampled = _read_sizes(files, sample, seed)
    summary.unreadable = sum(skipped.values())
    summary.sizes_read = len(sizes)
    if summary.unreadable:
        why = ", ".join(f"{n} {reason}" for reason, n in sorted(skipped.items()))
        summary.warnings.append(f"{summary.unreadable} of {len(sizes) + summary.unreadable} sampled files are not "
                                f"readable images ({why}); they are skipped (hoot shortlist skips them too)")
    if sizes:
        shorts = sorted(min(w, h) for w, h in sizes)
        summary.median_width_px = float(statistics.median(w for w, _ in sizes))
        summary.median_height_px = float(statistics.median(h for _, h in sizes))
        summary.median_short_side_px = float(statistics.median(shorts))
        summary.short_side_p10_px = round(_percentile(shorts, 10), 1)
        summary.short_side_p90_px = round(_percentile(shorts, 90), 1)


def summarize_dataset(path: str | os.PathLike[str], sample: int = DEFAULT_SIZE_SAMPLE, seed: int = 0) -> DatasetSummary:
    """Count images per class and measure the image-size distribution of an ImageFolder (what
    `hoot advise --dataset` needs; the trainer's one scanner, hoot.trainer.tasks.scanning, reads and
    checks layouts fully with the same walking rules).

    Accepts root/<class>/<image> or root/<split>/<class>/<image> (train/val/test); with
    splits, counts and sizes describe the training split. Bad layouts raise HootError.
    """
    root = existing_folder(path, "dataset path")
    try:
        split_dirs = find_splits(root)
    except PermissionError:
        raise HootError(f"dataset path '{root}' cannot be read; check its permissions") from None
    splits: dict[str, int] = {}
    main_dir = split_dirs.get("train", root)
    classes = _class_dirs(main_dir)
    other = {name: class_dirs(d) for name, d in split_dirs.items() if name != "train"}
    seen = fence(root, *split_dirs.values(), *classes, *(c for dirs in other.values() for c in dirs))
    for name, dirs in other.items():
        splits[name] = sum(len(walk_images(c, seen)) for c in dirs)
    if not classes:
        loose = [f for f in os.listdir(main_dir) if _is_image(f)]
        hint = f" (found {len(loose)} loose images: move them into one folder per class)" if loose else ""
        raise HootError(f"dataset path '{main_dir}' holds no class folders{hint}; "
                        "expected <root>/<class>/<image> as torchvision's ImageFolder reads it")
    files_by_class = {display_name(c.name): walk_images(c, seen) for c in classes}
    per_class = {name: len(files) for name, files in files_by_class.items()}
    if split_dirs:
        splits = {"train": sum(per_class.values()), **splits}
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
    if splits and "val" not in splits:
        summary.warnings.append("no validation split (val/): the trainer will hold out part of train")
    _measure_sizes(summary, [f for files in files_by_class.values() for f in files], sample, seed)
    return summary
