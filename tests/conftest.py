"""Shared test set-up: keep every test away from the user's real data directory and caches."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _isolated_homes(tmp_path_factory, monkeypatch):
    """Point hoot's data dir and torch's cache at temporary folders; no network downloads."""
    base = tmp_path_factory.mktemp("homes")
    monkeypatch.setenv("HOOT_DATA_DIR", str(base / "hoot"))
    monkeypatch.setenv("TORCH_HOME", str(base / "torch"))
    monkeypatch.delenv("HOOT_ALLOW_DOWNLOAD", raising=False)
    monkeypatch.delenv("HOOT_CATALOG", raising=False)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # tests run beside other jobs: their rows must not turn contended (and be re-measured) with the load;
    # the contention tests use fakes and clear this
    monkeypatch.setenv("HOOT_CONTENDED_OTHER_CORES", "1e9")
    yield
