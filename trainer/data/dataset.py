"""Find the user's images and labels, check them, and split them — before any training.

Layouts (what people already have):
- ImageFolder: `DATA/<class>/<image>`; the validation and test splits are drawn here, stratified
  and seeded.
- Pre-split: `DATA/train/<class>/...` with `DATA/val/<class>/...` and/or `DATA/test/<class>/...`
  (the split folder names of hoot.advisor.dataset_scan); a split that is not given is drawn
  from train, stratified and seeded.
- Multi-label: a per-image `.txt` tag sidecar (`cat.jpg` + `cat.txt` = "cat, indoor", as
  HootSight does, seeds/000) or `DATA/labels.csv` (columns `image,labels`, labels separated
  by `;`, `,`, `|` or spaces).

Three splits: the bake-off ranks on validation, the fine-tune selects on validation, and the
figure a run reports is on the held-out test split, which nothing else looks at. The rule for
small classes: per class, round(fraction x n) images go to validation and to test, at least one
each, and at least one stays for training; a class with fewer images than that (3 in an
ImageFolder) is a one-line error naming it. `hoot.trainer.tasks.scanning` is the one entry
(`scan_dataset`, `run_splits`): it picks the task, whose layout reader is here or in its module.

The folder rules (extensions, split names, hidden files, symlinks walked once, names that are
not UTF-8, the header probe) are hoot.advisor.dataset_scan's: `hoot advise --dataset` and
`hoot shortlist` count the same files. A file that cannot be used is listed with its reason
and skipped (zero-byte, unreadable, decompression bomb; truncated files are found when the
cache decodes them); a dataset that cannot be trained on at all (no images, one class, an
empty class) is a one-line HootError that says how many files were unreadable.
"""

from __future__ import annotations

import csv
import json
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from hoot.advisor.dataset_scan import (IMAGE_EXTENSIONS, class_dirs, display_name, fence, find_splits, is_image_name,
                                       probe_header, walk_images)
from hoot.advisor.errors import HootError
from hoot.trainer.data.splits import (check_split_sizes, min_images_per_class, split_rule, stratified_split,  # noqa: F401
                                 stratified_split3)

IMG_EXTENSIONS = IMAGE_EXTENSIONS  # one list for advise and shortlist
LABELS_CSV = "labels.csv"
#: below this many training images in a class, warn with the seeds' small-data advice
FEW_IMAGES_PER_CLASS = 10
_TAG_SPLIT = re.compile(r"[;,|\n\r\t ]+")


@dataclass
class Sample:
    """One usable image: its path, its label (class index; or the classes present: tags, mask classes,
    box classes, which the split stratifies by) and the task's target beside the image (segmentation:
    the mask file; detection: the boxes `((x1, y1, x2, y2, class), ...)` in source pixels)."""

    path: str
    label: int | tuple[int, ...]
    width: int = 0
    height: int = 0
    target: str | tuple = ""


@dataclass
class DatasetScan:
    """What the scan found: classes, the train/val split, skipped files and warnings."""

    root: str
    task: str  # a name of hoot.trainer.tasks.TASKS
    layout: str  # imagefolder | train-val | sidecars | labels.csv
    classes: list[str]
    train: list[Sample]
    val: list[Sample]
    skipped: list[dict[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    test: list[Sample] = field(default_factory=list)
    split_rule: str = ""
    #: every class must have training images (classification); segmentation's classes.txt may name more
    every_class_in_train: bool = True

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def split_items(self) -> tuple[tuple[str, list[Sample]], ...]:
        return (("train", self.train), ("val", self.val), ("test", self.test))

    def class_counts(self) -> list[dict[str, int | str]]:
        """Images per class in each split (a multi-label image counts once per tag)."""
        rows: list[dict[str, int | str]] = [{"class": c, "train": 0, "val": 0, "test": 0} for c in self.classes]
        for split_name, samples in self.split_items():
            for s in samples:
                for c in _as_tuple(s.label):
                    rows[c][split_name] = int(rows[c][split_name]) + 1
        return rows

    def median_size(self) -> int:
        """Median of min(width, height) over the usable images (seeds/001: match input size to it)."""
        sizes = [min(s.width, s.height) for s in self.train + self.val + self.test if s.width and s.height]
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
            "test_images": len(self.test),
            "split_rule": self.split_rule,
            "skipped": len(self.skipped),
            "median_image_size_px": self.median_size(),
            "class_counts": self.class_counts(),
        }


def _as_tuple(label: int | tuple[int, ...]) -> tuple[int, ...]:
    return label if isinstance(label, tuple) else (label,)


def is_image(path: Path) -> bool:
    return is_image_name(path.name)


def probe_image(path: Path) -> tuple[int, int] | str:
    """(width, height) from the header, or the reason the file cannot be used (the advisor's probe:
    zero-byte files and decompression bombs refused before any pixel is decoded)."""
    return probe_header(path)


def _list_images(folder: Path, seen: set[tuple[int, int]] | None = None) -> list[Path]:
    return [Path(p) for p in walk_images(folder, seen)]


def check_root(root: Path) -> None:
    if not root.exists():
        raise HootError(f"data folder '{root}' does not exist; pass a folder with one sub-folder of images per class")
    if not root.is_dir():
        raise HootError(f"data folder '{root}' is a file; pass the folder that holds one sub-folder of images per class")


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


def _folder_pairs(folder: Path, classes: list[str] | None, train_dir: Path | None = None,
                  fenced: set[tuple[int, int]] | None = None) -> tuple[list[str], list[tuple[Path, object]]]:
    dirs = class_dirs(folder)
    names = [display_name(d.name) for d in dirs]
    if classes is None:
        classes = names
    seen = (fenced or set()) | fence(folder, *dirs)
    pairs = []
    for d, name in zip(dirs, names):
        if name not in classes:
            raise HootError(f"'{display_name(str(d))}' is a class that '{train_dir or folder}' does not have; give every "
                            "split folder the same class folders")
        for p in _list_images(d, seen):
            pairs.append((p, name))
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


def has_tags(root: Path) -> bool:
    """Does `root` hold the multi-label layout (labels.csv, or .txt tag sidecars beside images)?"""
    root = Path(root)
    if (root / LABELS_CSV).is_file():
        return True
    top_images = [p for p in root.iterdir() if p.is_file() and is_image(p)]
    return _has_sidecars(top_images if top_images else _list_images(root)[:2000])


def read_class_folders(data_dir: str | Path, val_fraction: float = 0.2, seed: int = 0,
                       test_fraction: float = 0.2) -> DatasetScan:
    """The ImageFolder layouts (DATA/<class>/, or DATA/train|val|test/<class>/): probe every image's
    header and split into train/val/test. Raises HootError when nothing trainable is there."""
    root = Path(data_dir)
    check_root(root)
    skipped: list[dict[str, str]] = []
    splits = find_splits(root)
    fenced = fence(root, *splits.values())
    if splits:
        classes, train_pairs = _folder_pairs(splits["train"], None, fenced=fenced)
        given = {name: _folder_pairs(splits[name], classes, splits["train"], fenced)[1] for name in ("val", "test") if name in splits}
        layout = "train-" + "-".join(given) if given else "train"
    else:
        classes, train_pairs = _folder_pairs(root, None, fenced=fenced)
        given, layout = {}, "imagefolder"
    if not classes:
        raise HootError(f"data folder '{root}' has no class folders; put each class's images in DATA/<class>/ (or DATA/train, "
                        "DATA/val and DATA/test); hoot also reads images/ + masks/ or VOC (--task segmentation), COCO or "
                        "YOLO (--task detection), .txt tags or labels.csv (--task multilabel)")
    if not train_pairs and not any(given.values()):
        raise HootError(f"data folder '{root}' has no images ({', '.join(IMG_EXTENSIONS[:5])}, ...) in its class folders")
    index = {c: i for i, c in enumerate(classes)}

    def samples(pairs):
        return [Sample(str(p), index[c], w, h) for p, c, w, h in _probe_all(pairs, skipped)]

    train = samples(train_pairs)
    val, test = samples(given.get("val", [])), samples(given.get("test", []))
    draw_val, draw_test = "val" not in given, "test" not in given
    _check_usable(root, classes, train, skipped)
    check_split_sizes(classes, [s.label for s in train], draw_val, draw_test, str(root), len(skipped))
    tr_idx, va_idx, te_idx = stratified_split3([s.label for s in train], val_fraction if draw_val else 0.0,
                                               test_fraction if draw_test else 0.0, seed)
    if draw_val:
        val = [train[i] for i in va_idx]
    if draw_test:
        test = [train[i] for i in te_idx]
    train = [train[i] for i in tr_idx]
    rule = split_rule(draw_val, draw_test, val_fraction, test_fraction, seed)
    scan = DatasetScan(str(root), "classification", layout, classes, train, val, skipped, test=test, split_rule=rule)
    check_trainable(scan)
    return scan


def _check_usable(root: Path, classes: list[str], train: list[Sample], skipped: list[dict[str, str]]) -> None:
    """No usable image at all: say the files were unreadable (not that a split is empty)."""
    if train or not skipped:
        return
    reasons = sorted({s["reason"].split(":")[0].split(" (")[0] for s in skipped})
    raise HootError(f"data folder '{root}' has no usable images: all {len(skipped)} image file(s) were unreadable "
                    f"({', '.join(reasons)}); replace them with real images")


def read_tagged(data_dir: str | Path, val_fraction: float = 0.2, seed: int = 0, test_fraction: float = 0.2) -> DatasetScan:
    """The multi-label layouts (.txt tag sidecars or labels.csv, optionally under train/val/test)."""
    root = Path(data_dir)
    check_root(root)
    skipped: list[dict[str, str]] = []
    splits = find_splits(root)
    layout, train_pairs = _multilabel_pairs(splits.get("train", root), skipped)
    given = {name: _multilabel_pairs(splits[name], skipped)[1] for name in ("val", "test") if name in splits}
    if splits:
        layout += " (train-" + "-".join(given) + ")" if given else " (train)"
    if not train_pairs:
        raise HootError(f"data folder '{root}' has no tagged images; give each image a .txt sidecar of tags or add {LABELS_CSV}")
    train_ok = _probe_all(train_pairs, skipped)
    val_ok, test_ok = _probe_all(given.get("val", []), skipped), _probe_all(given.get("test", []), skipped)
    draw_val, draw_test = "val" not in given, "test" not in given
    need = min_images_per_class(draw_val, draw_test)
    if len(train_ok) < need:
        raise HootError(f"data folder '{root}' has {len(train_ok)} usable tagged image(s) ({len(skipped)} skipped); "
                        f"training, validation and test need at least {need}: add images")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(train_ok))
    n_test = max(1, round(test_fraction * len(train_ok))) if draw_test else 0
    n_val = max(1, round(val_fraction * len(train_ok))) if draw_val else 0
    n_test, n_val = (n_test, n_val) if n_test + n_val < len(train_ok) else (int(draw_test), int(draw_val))
    if draw_test:
        test_ok = [train_ok[i] for i in sorted(order[:n_test])]
    if draw_val:
        val_ok = [train_ok[i] for i in sorted(order[n_test:n_test + n_val])]
    train_ok = [train_ok[i] for i in sorted(order[n_test + n_val:])]
    classes = sorted({t for _, tags, _, _ in train_ok for t in tags})
    index = {c: i for i, c in enumerate(classes)}
    warn = []
    unseen = sorted({t for _, tags, _, _ in val_ok + test_ok for t in tags} - set(classes))
    if unseen:
        warn.append(f"tags only in the validation or test split are ignored: {', '.join(unseen[:10])}")

    def to_samples(rows):
        return [Sample(str(p), tuple(sorted({index[t] for t in tags if t in index})), w, h) for p, tags, w, h in rows]

    rule = split_rule(draw_val, draw_test, val_fraction, test_fraction, seed).replace("per class", "of the images")
    scan = DatasetScan(str(root), "multilabel", layout, classes, to_samples(train_ok), to_samples(val_ok), skipped, warn,
                       test=to_samples(test_ok), split_rule=rule)
    check_trainable(scan)
    return scan


def check_trainable(scan: DatasetScan) -> None:
    """One-line errors for datasets no model can learn from; warnings (with the seeds' advice) for tiny ones.

    Called after the header scan and again after decoding (truncated files can empty a class).
    """
    root = scan.root
    unreadable = f" ({len(scan.skipped)} unreadable file(s) skipped, listed in the run's dataset.json)" if scan.skipped else ""
    if not scan.train:
        raise HootError(f"data folder '{root}' has no usable images: all {len(scan.skipped)} image file(s) were unreadable "
                        "(zero-byte, not images or truncated); replace them with real images")
    if scan.num_classes < 2:
        raise HootError(f"data folder '{root}' has a single class '{scan.classes[0] if scan.classes else '?'}'; a model needs at least two classes to tell apart")
    counts = scan.class_counts()
    empty = [r["class"] for r in counts if r["train"] == 0]
    if empty and not scan.every_class_in_train:
        scan.warnings = [w for w in scan.warnings if not w.startswith("classes without training images")]
        scan.warnings.append(f"classes without training images: {', '.join(map(str, empty[:10]))}; the model cannot learn them")
    elif empty:
        raise HootError(f"class '{empty[0]}' in '{root}' has no usable training images{unreadable}; add images or remove the folder")
    if not scan.val:
        raise HootError(f"data folder '{root}' leaves no validation images{unreadable}; add images, or give DATA/val/ images")
    if not scan.test:
        raise HootError(f"data folder '{root}' leaves no test images{unreadable}; add images, or give DATA/test/ images")
    scan.warnings = [w for w in scan.warnings if not w.startswith("few images")]
    few = [r for r in counts if r["train"] < FEW_IMAGES_PER_CLASS]
    if few:
        names = ", ".join(f"{r['class']} ({r['train']})" for r in few[:5])
        scan.warnings.append(
            f"few images per class: {names}. With so little data use pretrained weights and a frozen backbone "
            "(--pretrained --strategy frozen; seeds/004: under 1K images, feature extraction), a lightweight model "
            "with strong regularisation (seeds/000: MobileNet V3, EfficientNet B0), and add images where you can"
        )
    total = len(scan.train) + len(scan.val) + len(scan.test)
    if total < 1000 and not any(w.startswith("small dataset") for w in scan.warnings):
        scan.warnings.append(
            f"small dataset ({total} images): seeds/004 advises transfer learning under 1K images; "
            "keep --pretrained (training from scratch on so few images is weak)"
        )


# -- a finished run's splits -------------------------------------------------------------------------


@dataclass(frozen=True)
class Splits:
    """A run's three splits: what it trained on, selected on, and reported on."""

    train: tuple[Sample, ...]
    val: tuple[Sample, ...]
    test: tuple[Sample, ...]
    classes: tuple[str, ...]
    task: str


SPLITS_FILE = "splits.json"


def splits_document(scan: DatasetScan) -> dict:
    """What prepare writes as the run's splits.json (paths and labels per split)."""
    def rows(samples: list[Sample]) -> list[list]:
        return [[s.path, list(s.label) if isinstance(s.label, tuple) else s.label, s.width, s.height,
                 [list(b) for b in s.target] if isinstance(s.target, tuple) else s.target] for s in samples]

    return {"task": scan.task, "classes": scan.classes, "rule": scan.split_rule,
            **{name: rows(samples) for name, samples in scan.split_items()}}


def read_splits_file(doc_path: Path) -> Splits:
    """A run's splits.json back as `Splits` (a broken file is a one-line error naming it and the fix)."""
    try:
        doc = json.loads(doc_path.read_text(encoding="utf-8"))

        def sample(row: list) -> Sample:
            p, y, w, h = row[:4]
            target = row[4] if len(row) > 4 else ""
            return Sample(p, tuple(y) if isinstance(y, list) else int(y), int(w), int(h),
                          tuple(tuple(b) for b in target) if isinstance(target, list) else target)

        return Splits(*(tuple(sample(r) for r in doc[name]) for name in ("train", "val", "test")),
                      tuple(doc["classes"]), doc["task"])
    except (ValueError, KeyError, TypeError) as exc:
        raise HootError(f"'{doc_path}' is broken ({type(exc).__name__}); delete it to rebuild the splits from config.json") from None
