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


def test_an_imported_row_of_this_machine_keeps_this_machines_description(tmp_path: Path) -> None:
    from hoot.bench.hardware import this_machine
    from hoot.testing.bench_rows import make_row

    mine = this_machine()
    row = {**make_row(hardware_id=mine["hardware_id"]), "hw_cpu_model": mine["cpu_model"],
           "hw_cpu_cores": mine["cpu_cores"], "hw_memory_gb": 9999, "hw_gpu_driver": "imported"}
    with ResultStore(tmp_path / "b.sqlite") as store:
        assert store.import_rows([row], "rows.json") == (1, 0)
        stored = store.conn.execute("SELECT memory_gb, gpu_driver FROM hardware WHERE hardware_id = ?",
                                    [mine["hardware_id"]]).fetchone()
    assert stored["memory_gb"] == mine["memory_gb"] and stored["gpu_driver"] == mine["gpu_driver"]
