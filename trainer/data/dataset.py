"""The records every task's layout reader fills (`Sample`, `DatasetScan`, `Splits`) and the checks
they share, before any training.

Layouts live with their task (hoot.trainer.tasks: class folders, tags, masks, boxes);
`hoot.trainer.tasks.scanning.scan_dataset` is the one entry and picks the task.

Three splits: the bake-off ranks on validation, the fine-tune selects on validation, and the
figure a run reports is on the held-out test split, which nothing else looks at. The rule for
small classes: per class, round(fraction x n) images go to validation and to test, at least one
each, and at least one stays for training; a class with fewer images than that (3 in an
ImageFolder) is a one-line error naming it. A run's splits are written as splits.json
(`splits_document`) and read back by `read_splits_file`.

The folder rules (extensions, split names, hidden files, symlinks walked once, names that are
not UTF-8, the header probe) are hoot.advisor.dataset_scan's: `hoot advise --dataset` and
`hoot shortlist` count the same files. A file that cannot be used is listed with its reason
and skipped (zero-byte, unreadable, decompression bomb; truncated files are found when the
cache decodes them); a dataset that cannot be trained on at all (no images, one class, an
empty class) is a one-line HootError that says how many files were unreadable.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from hoot.advisor.dataset_scan import is_image_name, probe_header, walk_images
from hoot.advisor.errors import HootError
from hoot.advisor.paths import existing_folder
from hoot.trainer.data.splits import stratified_split, stratified_split3  # noqa: F401 (tests import them here)

#: below this many training images in a class, warn with the seeds' small-data advice
FEW_IMAGES_PER_CLASS = 10


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


def list_images(folder: Path, seen: set[tuple[int, int]] | None = None) -> list[Path]:
    return [Path(p) for p in walk_images(folder, seen)]


def check_root(root: Path) -> None:
    existing_folder(root, "data folder")


def probe_all(pairs: list[tuple[Path, object]], skipped: list[dict[str, str]]) -> list[tuple[Path, object, int, int]]:
    good = []
    for path, label in pairs:
        probed = probe_image(path)
        if isinstance(probed, str):
            skipped.append({"path": str(path), "reason": probed})
        else:
            good.append((path, label, probed[0], probed[1]))
    return good


def check_usable(root: Path, classes: list[str], train: list[Sample], skipped: list[dict[str, str]]) -> None:
    """No usable image at all: say the files were unreadable (not that a split is empty)."""
    if train or not skipped:
        return
    reasons = sorted({s["reason"].split(":")[0].split(" (")[0] for s in skipped})
    raise HootError(f"data folder '{root}' has no usable images: all {len(skipped)} image file(s) were unreadable "
                    f"({', '.join(reasons)}); replace them with real images")


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
