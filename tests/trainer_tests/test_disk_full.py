"""A full disk is one line and leaves no temporaries (issue 21: a bus error and a .tmp.npy that filled the disk;
exit 3 when a checkpoint was written)."""

from __future__ import annotations

import errno
import os
import shutil
from collections import namedtuple
from pathlib import Path

import pytest
import torch

from hoot.advisor.errors import HootError
from hoot.trainer.data.cache import build_split
from hoot.trainer.data.dataset import Sample
from hoot.trainer.runfiles import atomic_torch_save

Usage = namedtuple("Usage", "total used free")


def _samples(tmp: Path, n: int = 6) -> list[Sample]:
    from hoot.testing.images import make_imagefolder

    make_imagefolder(tmp / "data", per_class=2)
    return [Sample(str(p), 0) for p in sorted((tmp / "data").rglob("*.png"))][:n]


def _left(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_a_cache_that_does_not_fit_is_refused_before_decoding(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(shutil, "disk_usage", lambda p: Usage(10 * 2**30, 10 * 2**30 - 2**20, 2**20))
    with pytest.raises(HootError, match=r"not enough free disk space in .* for the train image cache: it needs"):
        build_split(_samples(tmp_path), 64, tmp_path / "cache", "train", "classification", 2, progress=False)
    assert _left(tmp_path / "cache") == []


def test_disk_full_while_reserving_the_cache_leaves_nothing(tmp_path, monkeypatch) -> None:
    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full, raising=False)
    with pytest.raises(HootError, match=r"the disk filled up while writing the train image cache .* partial file is removed"):
        build_split(_samples(tmp_path), 32, tmp_path / "cache", "train", "classification", 2, progress=False)
    assert _left(tmp_path / "cache") == []


def test_disk_full_while_writing_a_checkpoint(tmp_path, monkeypatch) -> None:
    def full(obj, fh, *a, **k):
        fh.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(HootError, match=r"disk filled up while writing .*best.pt"):
        atomic_torch_save({"model": {"w": torch.zeros(4)}}, tmp_path / "best.pt")
    assert _left(tmp_path) == []


def test_a_checkpoint_that_does_not_fit_is_refused(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(shutil, "disk_usage", lambda p: Usage(2**30, 2**30 - 2**20, 2**20))
    with pytest.raises(HootError, match=r"for the checkpoint 'best.pt': it needs 64 MB"):
        atomic_torch_save({"model": {"w": torch.zeros(16 * 2**20)}}, tmp_path / "best.pt")
    assert _left(tmp_path) == []
