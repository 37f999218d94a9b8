"""The images a run's variants are judged and calibrated on, normalised as the checkpoint says.

`held_out_split` is the ONE place that decides which split accuracy is measured on. Until runs
keep a held-out test split (issue 11), it re-scans the run's data with its config.json exactly
as `trainer.bakeoff.prepare` does (same scan, same seeded split, the run's decode cache reused
when it still matches) and returns the validation split, and says so: that split also chose
`best.pt`, so its accuracy is optimistic; the CHANGE between variants is what this step reports.
Calibration images come from the TRAINING split only, never from the split accuracy is read on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hoot.advisor.errors import HootError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Split:
    """uint8 images (N,3,S,S) and int labels of one split, with the name the report prints."""

    images: np.ndarray
    labels: np.ndarray
    name: str

    def __len__(self) -> int:
        return int(self.images.shape[0])


def _rescan(run_dir: Path):
    """(train, val) SplitCaches rebuilt from config.json the way prepare() builds them (cache reused)."""
    from hoot.trainer.cache import build_cache
    from hoot.trainer.config import ShortlistConfig
    from hoot.trainer.data import scan_dataset

    config_path = run_dir / "config.json"
    if not config_path.is_file():
        raise HootError(f"'{run_dir}' has no config.json; pass a folder made by `hoot shortlist`")
    config = ShortlistConfig.load(config_path)
    if not Path(config.data_dir).is_dir():
        raise HootError(f"the run's data folder '{config.data_dir}' is gone; restore it to measure accuracy")
    scan = scan_dataset(config.data_dir, config.task, config.val_fraction, config.seed)
    if config.image_size is None:
        raise HootError(f"'{config_path}' has no image_size; the run did not finish preparing")
    return build_cache(scan, int(config.image_size), run_dir / "cache", progress=False)


def held_out_split(run_dir: Path, rescanned=None) -> Split:
    """The split accuracy is reported on (see the module docstring for which, and why).
    The one line to switch when runs keep a test split (issue 11)."""
    _train, val = rescanned or _rescan(run_dir)
    return Split(val.images, np.asarray(val.labels), "val (no test split in this run; it also chose best.pt)")


def load_splits(run_dir: Path) -> tuple[Split, Split]:
    """(training split for calibration, held-out split for accuracy), from one re-scan."""
    rescanned = _rescan(run_dir)
    return Split(rescanned[0].images, np.asarray(rescanned[0].labels), "train"), held_out_split(run_dir, rescanned)


def calibration_images(train: Split, n: int, seed: int) -> np.ndarray:
    """`n` training images (without replacement, seeded), uint8; all of them when the split is smaller."""
    if n < 1:
        raise HootError(f"--calibration-images {n} must be at least 1 (e.g. 128)")
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(train), size=min(n, len(train)), replace=False))
    return np.asarray(train.images[idx])


def normalise(images: np.ndarray, mean, std) -> np.ndarray:
    """uint8 NCHW -> float32, scaled by the checkpoint's mean and std (what the model was trained on)."""
    m = np.asarray(mean, dtype=np.float32).reshape(1, 3, 1, 1)
    s = np.asarray(std, dtype=np.float32).reshape(1, 3, 1, 1)
    return ((images.astype(np.float32) / 255.0) - m) / s


def resize_batch(images: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of a float32 NCHW batch (timing at a deployment size other than the training size)."""
    if images.shape[-1] == size:
        return images
    import torch

    t = torch.nn.functional.interpolate(torch.from_numpy(images), size=(size, size), mode="bilinear",
                                        align_corners=False, antialias=True)
    return t.numpy()
