"""Fixtures for the bench tests: a results store path, synthetic rows and the fake builder."""

from __future__ import annotations

from pathlib import Path

import pytest

from hoot.testing.bench_rows import FAKE_BUILDER, make_row


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "bench.sqlite"


@pytest.fixture
def row():
    """Factory of valid measurement rows: row(variant='x', latency_ms=3.0)."""
    return make_row


@pytest.fixture
def fake_builder() -> str:
    return FAKE_BUILDER
