"""Fixtures for the scale-out tests: a PostgreSQL URL (skip outside CI, fail in CI), toy data,
and the reaper that kills whatever a test spawned (hoot.testing.processes)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from hoot.testing import processes


@pytest.fixture
def postgres_url() -> str:
    """HOOT_TEST_POSTGRES_URL (.ci/services.sh starts the server); missing in CI is a failure."""
    url = os.environ.get("HOOT_TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true but HOOT_TEST_POSTGRES_URL is unset: .ci/services.sh did not start PostgreSQL")
        pytest.skip("needs a PostgreSQL server: set HOOT_TEST_POSTGRES_URL (source .ci/services.sh starts one)")
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shared_url(request, tmp_path: Path) -> str:
    """A storage several processes share: a SQLite file here, and PostgreSQL where a server runs."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def study_name() -> str:
    """A fresh study per test: every test shares the one database."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def toy_data(tmp_path: Path) -> Path:
    """A two-class folder; the toy engine reads only its file list (for the fingerprint)."""
    root = tmp_path / "data"
    for cls, n in (("cat", 3), ("dog", 3)):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            (root / cls / f"{i}.png").write_bytes(b"x" * (10 + i))
    return root


@pytest.fixture(autouse=True)
def _reap_spawned():
    """No process a test started outlives it, whatever the test's outcome."""
    yield
    processes.reap()
