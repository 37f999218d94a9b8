"""Tests never write into the user's own data folder (issue 21: runs.json and the bench database
got test entries): every place hoot writes resolves under the test session's temporary folder."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from hoot.advisor.paths import data_dir


def _inside_temp(path: Path) -> bool:
    return Path(path).resolve().is_relative_to(Path(tempfile.gettempdir()).resolve())


def test_hoots_data_dir_and_home_are_temporary() -> None:
    assert _inside_temp(data_dir())
    assert _inside_temp(Path.home())
    for name in ("XDG_DATA_HOME", "XDG_CACHE_HOME", "MPLCONFIGDIR", "TORCH_HOME"):
        assert _inside_temp(Path(os.environ[name])), name


def test_a_subprocess_inherits_the_isolation() -> None:
    out = subprocess.run([sys.executable, "-c", "from hoot.advisor.paths import data_dir; print(data_dir())"],
                         capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    assert _inside_temp(Path(out)), out
