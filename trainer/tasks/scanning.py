"""The one dataset scanner: `scan_dataset` picks the task (`--task auto` reads the layout) and
runs its layout reader (hoot.trainer.training.context.run_splits gives a finished run's splits
back through it).
`hoot advise --dataset` summarises a folder (hoot.advisor.dataset_scan.summarize_dataset)'s rules, the same
rules these readers walk by (extensions, split names, hidden files, symlinks)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from hoot.advisor.paths import existing_folder
from hoot.trainer.data.dataset import DatasetScan
from hoot.trainer.tasks import AUTO, detect_task, get_task
from hoot.trainer.tasks.base import ScanOptions


def scan_dataset(data_dir: str | Path, task: str = AUTO, val_fraction: float = 0.2, seed: int = 0,
                 test_fraction: float = 0.2, annotations: str | None = None,
                 grouper: Callable[[list[str]], list[int]] | None = None) -> DatasetScan:
    """Scan `data_dir` as `task` (auto: the layout found there), check it and split it train/val/test.
    Every bad input is a HootError naming the file and the fix, before anything is decoded."""
    root = Path(data_dir)
    name = detect_task(root) if task == AUTO else task
    impl = get_task(name)
    existing_folder(root, "data folder")
    return impl.scan(root, ScanOptions(val_fraction, test_fraction, seed, annotations, grouper))
