"""The one dataset scanner: `scan_dataset` picks the task (`--task auto` reads the layout) and
runs its layout reader (hoot.trainer.training.context.run_splits gives a finished run's splits
back through it).
`hoot advise --dataset` summarises a folder (hoot.advisor.dataset_scan.summarize_dataset)'s rules, the same
rules these readers walk by (extensions, split names, hidden files, symlinks)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Protocol

from hoot.advisor.errors import HootError
from hoot.advisor.paths import existing_folder
from hoot.trainer.data.dataset import DatasetScan
from hoot.trainer.tasks import AUTO, annotation_readers, detect_task, get_task
from hoot.trainer.tasks.base import ScanOptions


def scan_dataset(data_dir: str | Path, task: str = AUTO, val_fraction: float = 0.2, seed: int = 0,
                 test_fraction: float = 0.2, annotations: str | None = None,
                 grouper: Callable[[list[str]], list[int]] | None = None) -> DatasetScan:
    """Scan `data_dir` as `task` (auto: the layout found there), check it and split it train/val/test.
    Every bad input is a HootError naming the file and the fix, before anything is decoded."""
    root = Path(data_dir)
    name = detect_task(root, annotations) if task == AUTO else task
    impl = get_task(name)
    existing_folder(root, "data folder")
    if annotations is not None and not impl.annotations_file:
        raise HootError(f"--annotations '{annotations}' is for {' or '.join('--task ' + n for n in annotation_readers())}, "
                        f"not --task {name}; drop --annotations or pass the task that reads it")
    return impl.scan(root, ScanOptions(val_fraction, test_fraction, seed, annotations, grouper))


class SplitSettings(Protocol):
    """What a run's config says about its data (ShortlistConfig has these fields)."""

    data_dir: str
    task: str
    val_fraction: float
    test_fraction: float
    seed: int
    annotations: str | None


def scan_for(config: SplitSettings, grouper: Callable[[list[str]], list[int]] | None = None) -> DatasetScan:
    """`scan_dataset` with a run's settings: the one way a run (and its resume, scale-out worker,
    doctor preflight and predict) reads its data, so none of them forgets a setting."""
    return scan_dataset(config.data_dir, config.task, config.val_fraction, config.seed, config.test_fraction,
                        annotations=getattr(config, "annotations", None), grouper=grouper)
