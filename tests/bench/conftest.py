"""Fixtures for the bench tests: a results store path, synthetic rows and the fake builder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.store import utc_now

FAKE_BUILDER = str(Path(__file__).with_name("fake_models.py")) + ":build"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "bench.sqlite"


def make_row(**over: Any) -> dict[str, Any]:
    """A valid measurement row; keyword arguments override fields."""
    row = {
        "hardware_id": "test-cpu-00000000", "variant": "resnet18", "family": "ResNet", "task": "classification",
        "mode": "inference", "device": "cpu", "dtype": "fp32", "batch_size": 1, "input_size": 224,
        "native_input": True, "threads": 2, "channels_last": False, "compile": False, "quick": False,
        "status": "ok", "latency_ms": 20.0, "latency_p10_ms": 19.0, "latency_p90_ms": 22.0, "latency_cv": 0.05,
        "iterations": 50, "throughput_ips": 50.0, "gmacs": 1.814, "gflops": 3.628, "params": 11689512,
        "peak_memory_mb": 100.0, "memory_kind": "cpu_rss", "measured_at": utc_now(),
    }
    row.update(over)
    return row


@pytest.fixture
def row():
    """Factory of valid measurement rows: row(variant='x', latency_ms=3.0)."""
    return make_row


@pytest.fixture
def fake_builder() -> str:
    return FAKE_BUILDER
