"""The images a run's variants are judged and calibrated on, normalised as the checkpoint says.

`held_out_split` is the ONE place that decides which split accuracy is measured on: the run's
held-out TEST split, which chose neither the bake-off winner (validation) nor the kept epoch
(validation). The splits are the run's own (its splits.json, through the one way to rebuild a
run's splits, `hoot.trainer.training.context.run_splits`), and the run's decode cache is reused
when it still matches (nothing is re-decoded then). Calibration images come from the TRAINING split only, never from
the split accuracy is read on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from hoot.advisor.errors import HootError
from hoot.bench.ondevice.base import AccuracyGuard
from hoot.trainer.config import RESOLVED_KEY

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Split:
    """uint8 images (N,3,S,S) and int labels of one split, with the name the report prints."""

    images: np.ndarray
    labels: np.ndarray
    name: str

    def __len__(self) -> int:
        return int(self.images.shape[0])


def _image_size(run_dir: Path, config) -> int:
    """The size the run trained at: --image-size, else what prepare resolved (config.json "resolved")."""
    import json

    if config.image_size is not None:
        return int(config.image_size)
    doc = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    size = (doc.get(RESOLVED_KEY) or {}).get("image_size")
    if not size:
        raise HootError(f"'{run_dir / 'config.json'}' records no image size; the run did not finish preparing")
    return int(size)


def _rescan(run_dir: Path):
    """(train, val, test) SplitCaches of the run's stored splits (its decode cache reused)."""
    from hoot.trainer.config import ShortlistConfig
    from hoot.trainer.training.context import run_splits, split_caches

    config_path = run_dir / "config.json"
    if not config_path.is_file():
        raise HootError(f"'{run_dir}' has no config.json; pass a folder made by `hoot shortlist`")
    config = ShortlistConfig.load(config_path)
    splits = run_splits(run_dir)
    missing = next((s.path for s in splits.train + splits.test if not Path(s.path).is_file()), None)
    if missing is not None and not (run_dir / "cache").is_dir():
        raise HootError(f"the run's image '{missing}' is gone and the run has no cache; restore the data folder "
                        f"'{config.data_dir}' to measure accuracy")
    return split_caches(splits, _image_size(run_dir, config), run_dir / "cache")


def held_out_split(run_dir: Path, rescanned=None) -> Split:
    """The split accuracy is reported on: the run's held-out test split (see the module docstring)."""
    _train, _val, test = rescanned or _rescan(run_dir)
    if len(test) == 0:
        raise HootError(f"run '{run_dir}' has no held-out test images; re-run `hoot shortlist` with --test-fraction > 0")
    return Split(test.images, np.asarray(test.labels), "test (held out: chose neither the winner nor the kept epoch)")


@dataclass(frozen=True)
class RunSplits:
    """A run's three splits as optimize uses them: calibration, INT8's accuracy guard, the reported figure."""

    train: Split
    validation: Split | None  # None where the run kept no validation images
    held: Split
    train_cache: Any = None  # the training split's SplitCache: what quantisation-aware training draws batches from


def load_splits(run_dir: Path) -> RunSplits:
    """The run's training split (calibration), validation split (what an accuracy-aware INT8 route may
    tune on: it already chose the winner and the epoch) and held-out split (accuracy), from one re-scan."""
    rescanned = _rescan(run_dir)
    train, val, _test = rescanned
    validation = Split(val.images, np.asarray(val.labels), "validation") if len(val) else None
    return RunSplits(Split(train.images, np.asarray(train.labels), "train"), validation,
                     held_out_split(run_dir, rescanned), train)


def accuracy_guard(validation: Split | None, score_split: Callable[..., float], mean, std,
                   max_drop: float = 0.01) -> AccuracyGuard | None:
    """INT8's accuracy guard on the validation split, or None without one. `score_split(predict,
    images_u8, targets)` is the task's metric, scored as the held-out figure is."""
    if validation is None:
        return None

    def score(predict, idx: np.ndarray) -> float:
        return score_split(predict, validation.images[idx], validation.labels[idx])

    def input_of(i: int) -> np.ndarray:  # one image at a time: a validation split in float32 could be gigabytes
        return normalise(np.asarray(validation.images[i:i + 1]), mean, std)

    return AccuracyGuard(len(validation), input_of, score, max_drop)


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
