"""The one dataset scanner: `scan_dataset` picks the task (`--task auto` reads the layout) and
runs its layout reader; `run_splits` gives a run's splits back, the one way to rebuild them
(from the run's splits.json; else rescanned with its config.json, which is deterministic).
`hoot advise --dataset` summarises a folder (hoot.advisor.dataset_scan.summarize_dataset)'s rules, the same
rules these readers walk by (extensions, split names, hidden files, symlinks)."""

from __future__ import annotations

from pathlib import Path

from hoot.advisor.errors import HootError
from hoot.trainer.data.dataset import SPLITS_FILE, DatasetScan, Splits, read_splits_file
from hoot.trainer.tasks import AUTO, detect_task, get_task
from hoot.trainer.tasks.base import ScanOptions


def scan_dataset(data_dir: str | Path, task: str = AUTO, val_fraction: float = 0.2, seed: int = 0,
                 test_fraction: float = 0.2, annotations: str | None = None) -> DatasetScan:
    """Scan `data_dir` as `task` (auto: the layout found there), check it and split it train/val/test.
    Every bad input is a HootError naming the file and the fix, before anything is decoded."""
    root = Path(data_dir)
    name = detect_task(root) if task == AUTO else task
    impl = get_task(name)
    if not root.is_dir():
        raise HootError(f"data folder '{root}' does not exist or is not a folder; pass a folder of images")
    return impl.scan(root, ScanOptions(val_fraction, test_fraction, seed, annotations))


def run_splits(run_dir: str | Path) -> Splits:
    """The train/val/test splits of a run folder: from its splits.json, else rebuilt from its
    config.json (the scan and split are deterministic given the data and the config)."""
    run_dir = Path(run_dir)
    doc_path = run_dir / SPLITS_FILE
    if doc_path.is_file():
        return read_splits_file(doc_path)
    from hoot.trainer.config import ShortlistConfig

    if not (run_dir / "config.json").is_file():
        raise HootError(f"'{run_dir}' is not a hoot run folder (no config.json); pass a folder made by hoot shortlist")
    cfg = ShortlistConfig.load(run_dir / "config.json")
    scan = scan_dataset(cfg.data_dir, cfg.task, cfg.val_fraction, cfg.seed, cfg.test_fraction,
                        getattr(cfg, "annotations", None))
    return Splits(tuple(scan.train), tuple(scan.val), tuple(scan.test), tuple(scan.classes), scan.task)
