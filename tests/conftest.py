"""Shared test set-up: keep every test away from the user's real data directory and caches."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _isolated_homes(tmp_path_factory, monkeypatch):
    """Point hoot's data dir and the weights caches (torch, Hugging Face hub) at temporary folders; no network."""
    base = tmp_path_factory.mktemp("homes")
    monkeypatch.setenv("HOOT_DATA_DIR", str(base / "hoot"))
    monkeypatch.setenv("TORCH_HOME", str(base / "torch"))
    monkeypatch.setenv("HF_HUB_CACHE", str(base / "hf"))  # timm's and smp's weights cache
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HOOT_ALLOW_DOWNLOAD", raising=False)
    monkeypatch.delenv("HOOT_CATALOG", raising=False)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # tests run beside other jobs: their rows must not turn contended (and be re-measured) with the load;
    # the contention tests use fakes and clear this
    monkeypatch.setenv("HOOT_CONTENDED_OTHER_CORES", "1e9")
    yield
