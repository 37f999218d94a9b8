"""An SQLite file hoot did not make is left exactly as it was (issue 21: hoot wrote its tables into it)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hoot.advisor.errors import HootError
from hoot.bench.store import ResultStore


def test_another_programs_file_is_not_written(tmp_path: Path) -> None:
    path = tmp_path / "app.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    before = path.read_bytes()
    with pytest.raises(HootError, match="another program"):
        ResultStore(path)
    assert path.read_bytes() == before
    assert not Path(f"{path}-wal").exists()


def test_an_empty_file_and_hoots_own_file_open(tmp_path: Path) -> None:
    (tmp_path / "empty.sqlite").write_bytes(b"")
    with ResultStore(tmp_path / "empty.sqlite"):
        pass
    with ResultStore(tmp_path / "empty.sqlite"):  # now hoot's, reopened
        pass
