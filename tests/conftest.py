"""Shared test set-up: keep every test away from the user's real data directory and caches.

Two layers: the whole session (module- and session-scoped fixtures run before any
function-scoped one, and subprocesses inherit os.environ) and each test (its own folders).
HOME and the XDG folders are covered too: hoot falls back to ~/.local/share/hoot, and
matplotlib and others write caches under HOME.
"""

from __future__ import annotations

import logging

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

import pytest

_SAVED: dict[str, str | None] = {}
_SESSION_DIR: list[str] = []


def _isolate(setenv: Callable[[str, str], None], delenv: Callable[[str], None], base: Path) -> None:
    """Every folder hoot or its libraries would write under the user's home, inside `base`."""
    for name, sub in (("HOOT_DATA_DIR", "hoot"), ("TORCH_HOME", "torch"), ("HOME", "home"),
                      ("XDG_DATA_HOME", "xdg-data"), ("XDG_CACHE_HOME", "xdg-cache"),
                      ("XDG_CONFIG_HOME", "xdg-config"), ("MPLCONFIGDIR", "matplotlib"),
                      ("HF_HUB_CACHE", "hf")):  # timm's and smp's weights cache
        setenv(name, str(base / sub))
    for name in ("HOOT_ALLOW_DOWNLOAD", "HOOT_CATALOG"):
        delenv(name)
    setenv("MPLBACKEND", "Agg")
    setenv("HF_HUB_OFFLINE", "1")
    # tests run beside other jobs: their rows must not turn contended (and be re-measured) with the load;
    # the contention tests use fakes and clear this
    setenv("HOOT_CONTENDED_OTHER_CORES", "1e9")


def pytest_configure(config: pytest.Config) -> None:
    base = tempfile.mkdtemp(prefix="hoot-tests-")
    _SESSION_DIR.append(base)

    def setenv(name: str, value: str) -> None:
        _SAVED.setdefault(name, os.environ.get(name))
        os.environ[name] = value

    def delenv(name: str) -> None:
        _SAVED.setdefault(name, os.environ.get(name))
        os.environ.pop(name, None)

    _isolate(setenv, delenv, Path(base))


def pytest_unconfigure(config: pytest.Config) -> None:
    for name, value in _SAVED.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    for base in _SESSION_DIR:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(autouse=True)
def _isolated_homes(tmp_path_factory, monkeypatch):
    """Point hoot's data dir, HOME and the caches at this test's own temporary folders; no downloads."""
    base = tmp_path_factory.mktemp("homes")
    _isolate(monkeypatch.setenv, lambda name: monkeypatch.delenv(name, raising=False), base)
    yield


@pytest.fixture(autouse=True)
def _hoot_loggers_as_new(monkeypatch):
    """A test starts with hoot's loggers as a fresh process has them: an earlier test's alembic
    migration (logging.config.fileConfig) disables every logger that existed then, and a CLI test
    stops `hoot` propagating; tests that read hoot's log lines must not depend on the order."""
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and (name == "hoot" or name.startswith("hoot.")):
            monkeypatch.setattr(logger, "disabled", False)
            monkeypatch.setattr(logger, "propagate", True)
    yield
