"""Fixtures for the scale-out tests: a PostgreSQL URL (skip outside CI, fail in CI), toy runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

HERE = Path(__file__).parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))  # toy_engine, importable by the tests and by their subprocesses


@pytest.fixture
def postgres_url() -> str:
    """HOOT_TEST_POSTGRES_URL (.ci/services.sh starts the server); missing in CI is a failure."""
    url = os.environ.get("HOOT_TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true but HOOT_TEST_POSTGRES_URL is unset: .ci/services.sh did not start PostgreSQL")
        pytest.skip("needs a PostgreSQL server: set HOOT_TEST_POSTGRES_URL (source .ci/services.sh starts one)")
    return url


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


def toy_config(data: Path, out: Path, **overrides) -> dict:
    config = {"data_dir": str(data), "candidates": ["m1", "m2", "m3", "m4"], "output": str(out), "run_id": "run",
              "seed": 0}
    config.update(overrides)
    return config


def toy_env(log: Path, rung_s: float = 0.0, heartbeat_s: int = 1, **extra: str) -> dict:
    env = dict(os.environ)
    env.update({"PYTHONPATH": f"{HERE}{os.pathsep}{REPO}", "HOOT_TOY_LOG": str(log), "HOOT_TOY_RUNG_S": str(rung_s),
                "HOOT_HEARTBEAT_SECONDS": str(heartbeat_s), "OMP_NUM_THREADS": "1"})
    env.update(extra)
    return env


_SPAWNED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _reap_spawned():
    """No process a test started outlives it, whatever the test's outcome."""
    yield
    import conftest as shared  # the instance the test modules import (pytest may load another copy)

    while shared._SPAWNED:
        proc = shared._SPAWNED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def spawn_toy(config: dict, options: dict, env: dict, tag: str, folder: Path) -> subprocess.Popen:
    """One scale-out role in its own process, stdout/stderr to files named by tag."""
    import conftest as shared

    proc = _spawn(config, options, env, tag, folder)
    shared._SPAWNED.append(proc)
    return proc


def _spawn(config: dict, options: dict, env: dict, tag: str, folder: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(HERE / "toy_main.py"), json.dumps(config), json.dumps(options)],
        env=env, cwd=REPO, stdout=open(folder / f"{tag}.out", "w"), stderr=open(folder / f"{tag}.err", "w"),
    )


def executions(log: Path, exclude_pids: tuple[int, ...] = ()) -> list[tuple[str, str, int]]:
    """(event, candidate, rung) lines the toy engine wrote: 'start' and 'done'.

    exclude_pids: leave out a coordinator's own run (it re-trains the winner's last rung for the
    fine-tune's starting weights), to count what the workers ran.
    """
    if not log.exists():
        return []
    rows = []
    for line in log.read_text().splitlines():
        event, cand, rung, pid = line.split()
        if int(pid) not in exclude_pids:
            rows.append((event, cand, int(rung)))
    return rows
