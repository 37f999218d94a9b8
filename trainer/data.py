"""Find the user's images and labels, check them, and split them — before any training.

Layouts (what people already have):
- ImageFolder: `DATA/<class>/<image>`; the validation split is drawn here, stratified and seeded.
- Pre-split: `DATA/train/<class>/...` and `DATA/val/<class>/...`.
- Multi-label: a per-image `.txt` tag sidecar (`cat.jpg` + `cat.txt` = "cat, indoor", as
  HootSight does, seeds/000) or `DATA/labels.csv` (columns `image,labels`, labels separated
  by `;`, `,`, `|` or spaces).

A file that cannot be used is listed with its reason and skipped (zero-byte, unreadable,
decompression bomb; truncated files are found when the cache decodes them); a dataset that
cannot be trained on at all (no images, one class, an empty class) is a one-line HootError.
"""

from __future__ import annotations

import csv
import re
import statistics
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from hoot.advisor.dataset_scan import IMAGE_EXTENSIONS
from hoot.advisor.errors import HootError

IMG_EXTENSIONS = IMAGE_EXTENSIONS  # one list for advise and shortlist
LABELS_CSV = "labels.csv"
#: below this many training images in a class, warn with the seeds' small-data advice
FEW_IMAGES_PER_CLASS = 10
_TAG_SPLIT = re.compile(r"[;,|\n\r\t ]+")


@dataclass
class Sample:
    """One usable image: its path and label (class index, or the tag indices for multi-label)."""

    path: str
    label: int | tuple[int, ...]
    width: int = 0
    height: int = 0


@dataclass
class DatasetScan:
    """What the scan found: classes, the train/val split, skipped files and warnings."""

    root: str
    task: str  # classification | multilabel
    layout: str  # imagefolder | train-val | sidecars | labels.csv
    classes: list[str]
    train: list[Sample]
    val: list[Sample]
    skipped: list[dict[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def class_counts(self) -> list[dict[str, int | str]]:
        """Images per class in each split (a multi-label image counts once per tag)."""
        rows = []
        for split_name, samples in (("train", self.train), ("val", self.val)):
            counts = np.zeros(self.num_classes, dtype=np.int64)
            for s in samples:
                for c in _as_tuple(s.label):
                    counts[c] += 1
            for i, n in enumerate(counts):
                if split_name == "train":
                    rows.append({"class": self.classes[i], "train": int(n), "val": 0})
                else:
                    rows[i]["val"] = int(n)
        return rows

    def median_size(self) -> int:
        """Median of min(width, height) over the usable images (seeds/001: match input size to it)."""
        sizes = [min(s.width, s.height) for s in self.train + self.val if s.width and s.height]
        return int(statistics.median(sizes)) if sizes else 0

    def summary(self) -> dict:
        return {
            "root": self.root,
            "task": self.task,
            "layout": self.layout,
            "num_classes": self.num_classes,
            "classes": self.classes,
            "train_images": len(self.train),
            "val_images": len(self.val),
            "skipped": len(self.skipped),
            "median_image_size_px": self.median_size(),
            "class_counts": self.class_counts(),
        }


def _as_tuple(label: int | tuple[int, ...]) -> tuple[int, ...]:
    return label if isinstance(label, tuple) else (label,)


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMG_EXTENSIONS and not path.name.startswith(".")


def probe_image(path: Path) -> tuple[int, int] | str:
    """(width, height) from the header, or the reason the file cannot be used.

    Decompression bombs are refused here, before any pixel is decoded: Pillow's warning
    (over Image.MAX_IMAGE_PIXELS) is treated as an error, not just its hard limit.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        if path.stat().st_size == 0:
            return "zero-byte file"
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                return im.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return f"refused: decompression bomb (over Pillow's limit of {Image.MAX_IMAGE_PIXELS} pixels)"
    except UnidentifiedImageError:
        return "unreadable: not an image Pillow can identify"
    except OSError as exc:
        return f"unreadable: {exc}"


def _list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and is_image(p))


def _check_root(root: Path) -> None:
    if not root.exists():
        raise HootError(f"data folder '{root}' does not exist; pass a folder with one sub-folder of images per class")
    if not root.is_dir():
        raise HootError(f"data folder '{root}' is a file; pass the folder that holds one sub-folder of images per class")


def _class_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _has_sidecars(images: Sequence[Path]) -> bool:
    return any(p.with_suffix(".txt").is_file() for p in images)


def _read_tags(text: str) -> list[str]:
    return [t.strip() for t in _TAG_SPLIT.split(text) if t.strip()]


def _probe_all(pairs: list[tuple[Path, object]], skipped: list[dict[str, str]]) -> list[tuple[Path, object, int, int]]:
    good = []
    for path, label in pairs:
        probed = probe_image(path)
        if isinstance(probed, str):
            skipped.append({"path": str(path), "reason": probed})
        else:
            good.append((path, label, probed[0], probed[1]))
    return good


def _folder_pairs(folder: Path, classes: list[str] | None) -> tuple[list[str], list[tuple[Path, object]]]:
    dirs = _class_dirs(folder)
    names = [d.name for d in dirs]
    if classes is None:
        classes = names
    pairs = []
    for d in dirs:
        if d.name not in classes:
            raise HootError(f"'{d}' is a class that '{folder.parent / 'train'}' does not have; give train/ and val/ the same class folders")
        for p in _list_images(d):
            pairs.append((p, d.name))
    return classes, pairs


def _multilabel_pairs(root: Path, skipped: list[dict[str, str]]) -> tuple[str, list[tuple[Path, object]]]:
    csv_path = root / LABELS_CSV
    pairs: list[tuple[Path, object]] = []
    if csv_path.is_file():
        with csv_path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            fields = {f.lower().strip(): f for f in (reader.fieldnames or [])}
            img_col = next((fields[k] for k in ("image", "filename", "file", "path") if k in fields), None)
            lab_col = next((fields[k] for k in ("labels", "tags", "label") if k in fields), None)
            if img_col is None or lab_col is None:
                raise HootError(f"'{csv_path}' needs a header with columns 'image' and 'labels' (labels separated by ';')")
            for row in reader:
                rel = (row.get(img_col) or "").strip()
                if not rel:
                    continue
                path = root / rel
                if not path.is_file():
                    skipped.append({"path": str(path), "reason": f"listed in {LABELS_CSV} but missing"})
                    continue
                pairs.append((path, tuple(_read_tags(row.get(lab_col) or ""))))
        return LABELS_CSV, pairs
    for p in _list_images(root):
        side = p.with_suffix(".txt")
        if not side.is_file():
            skipped.append({"path": str(p), "reason": "no .txt tag sidecar"})
            continue
        pairs.append((p, tuple(_read_tags(side.read_text(encoding="utf-8", errors="replace")))))
    return "sidecars", pairs


def stratified_split(labels: Sequence[int], val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices (train, val): per class, a seeded shuffle, then round(fraction * n) to val (at least one
    when the class has two or more images), so every class is seen in both splits."""
    rng = np.random.default_rng(seed)
    by_class: dict[int, list[int]] = {}
    for i, y in enumerate(labels):
        by_class.setdefault(int(y), []).append(i)
    train, val = [], []
    for c in sorted(by_class):
        idx = np.array(by_class[c])
        rng.shuffle(idx)
        n_val = 0 if len(idx) < 2 else min(len(idx) - 1, max(1, round(val_fraction * len(idx))))
        val.extend(idx[:n_val].tolist())
        train.extend(idx[n_val:].tolist())
    return sorted(train), sorted(val)


def scan_dataset(data_dir: str | Path, task: str = "auto", val_fraction: float = 0.2, seed: int = 0) -> DatasetScan:
    """Scan `data_dir`, probe every image's header, pick the layout and split. Raises HootError
    when nothing trainable is there."""
    root = Path(data_dir)
    _check_root(root)
    skipped: list[dict[str, str]] = []
    presplit = (root / "train").is_dir() and (root / "val").is_dir()
    top_images = [p for p in root.iterdir() if p.is_file() and is_image(p)]
    multilabel = task == "multilabel" or (
        task == "auto" and ((root / LABELS_CSV).is_file() or _has_sidecars(top_images if top_images else _list_images(root)[:2000]))
    )
    if multilabel:
        return _scan_multilabel(root, presplit, val_fraction, seed, skipped)

    if presplit:
        classes, train_pairs = _folder_pairs(root / "train", None)
        _, val_pairs = _folder_pairs(root / "val", classes)
        layout = "train-val"
    else:
        classes, train_pairs = _folder_pairs(root, None)
        val_pairs = []
        layout = "imagefolder"
    if not classes:
        raise HootError(f"data folder '{root}' has no class folders; put each class's images in DATA/<class>/ (or DATA/train and DATA/val)")
    if not train_pairs and not val_pairs:
        raise HootError(f"data folder '{root}' has no images ({', '.join(IMG_EXTENSIONS[:5])}, ...) in its class folders")
    index = {c: i for i, c in enumerate(classes)}
    train_ok = _probe_all(train_pairs, skipped)
    val_ok = _probe_all(val_pairs, skipped)
    train = [Sample(str(p), index[c], w, h) for p, c, w, h in train_ok]
    val = [Sample(str(p), index[c], w, h) for p, c, w, h in val_ok]
    if layout == "imagefolder":
        tr_idx, va_idx = stratified_split([s.label for s in train], val_fraction, seed)
        train, val = [train[i] for i in tr_idx], [train[i] for i in va_idx]
    scan = DatasetScan(str(root), "classification", layout, classes, train, val, skipped)
    check_trainable(scan)
    return scan


def _scan_multilabel(root: Path, presplit: bool, val_fraction: float, seed: int, skipped: list) -> DatasetScan:
    if presplit:
        layout, train_pairs = _multilabel_pairs(root / "train", skipped)
        _, val_pairs = _multilabel_pairs(root / "val", skipped)
    else:
        layout, train_pairs = _multilabel_pairs(root, skipped)
        val_pairs = []
    if not train_pairs:
        raise HootError(f"data folder '{root}' has no tagged images; give each image a .txt sidecar of tags or add {LABELS_CSV}")
    train_ok = _probe_all(train_pairs, skipped)
    val_ok = _probe_all(val_pairs, skipped)
    if not presplit:
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(train_ok))
        n_val = max(1, round(val_fraction * len(train_ok))) if len(train_ok) > 1 else 0
        val_ok = [train_ok[i] for i in sorted(order[:n_val])]
        train_ok = [train_ok[i] for i in sorted(order[n_val:])]
    classes = sorted({t for _, tags, _, _ in train_ok for t in tags})
    index = {c: i for i, c in enumerate(classes)}
    warn = []
    unseen = sorted({t for _, tags, _, _ in val_ok for t in tags} - set(classes))
    if unseen:
        warn.append(f"tags only in the validation split are ignored: {', '.join(unseen[:10])}")

    def to_samples(rows):
        return [Sample(str(p), tuple(sorted({index[t] for t in tags if t in index})), w, h) for p, tags, w, h in rows]

    scan = DatasetScan(str(root), "multilabel", layout, classes, to_samples(train_ok), to_samples(val_ok), skipped, warn)
    check_trainable(scan)
    return scan


def check_trainable(scan: DatasetScan) -> None:
    """One-line errors for datasets no model can learn from; warnings (with the seeds' advice) for tiny ones.

    Called after the header scan and again after decoding (truncated files can empty a class).
    """
    root = scan.root
    if not scan.train:
        raise HootError(f"data folder '{root}' has no usable images ({len(scan.skipped)} skipped); see the files listed with --debug or fix them")
    if scan.num_classes < 2:
        raise HootError(f"data folder '{root}' has a single class '{scan.classes[0] if scan.classes else '?'}'; a classifier needs at least two classes")
    counts = scan.class_counts()
    empty = [r["class"] for r in counts if r["train"] == 0]
    if empty:
        raise HootError(f"class '{empty[0]}' in '{root}' has no usable training images; add images or remove the folder")
    if not scan.val:
        raise HootError(f"data folder '{root}' leaves no validation images; add images, or give DATA/val/ images")
    scan.warnings = [w for w in scan.warnings if not w.startswith("few images")]
    few = [r for r in counts if r["train"] < FEW_IMAGES_PER_CLASS]
    if few:
        names = ", ".join(f"{r['class']} ({r['train']})" for r in few[:5])
        scan.warnings.append(
            f"few images per class: {names}. With so little data use pretrained weights and a frozen backbone "
            "(--pretrained --strategy frozen; seeds/004: under 1K images, feature extraction), a lightweight model "
            "with strong regularisation (seeds/000: MobileNet V3, EfficientNet B0), and add images where you can"
        )
    total = len(scan.train) + len(scan.val)
    if total < 1000 and not any(w.startswith("small dataset") for w in scan.warnings):
        scan.warnings.append(
            f"small dataset ({total} images): seeds/004 advises transfer learning under 1K images; "
            "keep --pretrained (training from scratch on so few images is weak)"
        )
