"""Results store: schema and its migration, WAL, concurrent writers, claims, resume keys, import validation."""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
import stat

import pytest

from hoot.advisor.errors import HootError
from hoot.bench.records import KEY_COLUMNS, SettingsKey, classify_exit
from hoot.bench.store import SCHEMA_VERSION, ResultStore


def test_schema_is_versioned_and_wal(db):
    with ResultStore(db) as store:
        assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"hardware", "measurements", "claims"} <= tables
    columns = {r[1] for r in conn.execute("PRAGMA table_info(measurements)")}
    assert {"runtime", "converged", "stopped_by", "latency_spread_ms", "auto_batch_s"} <= columns
    assert "compile" not in columns


def test_newer_schema_and_foreign_files_are_refused(db, tmp_path):
    ResultStore(db).close()
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(HootError, match="schema version"):
        ResultStore(db)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(HootError, match="not a hoot results database"):
        ResultStore(junk)
    with pytest.raises(HootError, match="does not exist"):
        ResultStore(tmp_path / "missing.sqlite", create=False)


V1_MEASUREMENT_COLUMNS = (
    "hardware_id TEXT NOT NULL, variant TEXT NOT NULL, family TEXT, task TEXT, mode TEXT NOT NULL, device TEXT NOT NULL, "
    "dtype TEXT NOT NULL, batch_size INTEGER NOT NULL, input_size INTEGER NOT NULL, native_input INTEGER, "
    "threads INTEGER NOT NULL, channels_last INTEGER NOT NULL, compile INTEGER NOT NULL, quick INTEGER NOT NULL, "
    "status TEXT NOT NULL, error TEXT, latency_ms REAL, latency_p10_ms REAL, latency_p90_ms REAL, latency_cv REAL, "
    "iterations INTEGER, timed_s REAL, throughput_ips REAL, gmacs REAL, gflops REAL, gmacs_fvcore REAL, "
    "fvcore_unsupported TEXT, params INTEGER, weights_file_mb REAL, peak_memory_mb REAL, peak_reserved_mb REAL, "
    "memory_kind TEXT, auto_batch_size INTEGER, build_s REAL, duration_s REAL, torch_version TEXT, "
    "torchvision_version TEXT, cuda_version TEXT, hoot_version TEXT, measured_at TEXT NOT NULL")
V1_KEY = "hardware_id, variant, mode, device, dtype, batch_size, input_size, threads, channels_last, compile, quick"


def _version_1_file(path) -> None:
    """A results database as hoot wrote it before runtimes and convergence were stored."""
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE hardware (hardware_id TEXT PRIMARY KEY, cpu_model TEXT, cpu_cores INTEGER, "
        "cpu_physical_cores INTEGER, memory_gb REAL, os TEXT, arch TEXT, gpu_count INTEGER, gpu_name TEXT, "
        "gpu_memory_mb INTEGER, gpu_compute_capability TEXT, gpu_driver TEXT, info_json TEXT, first_seen TEXT);"
        f"CREATE TABLE measurements (id INTEGER PRIMARY KEY AUTOINCREMENT, {V1_MEASUREMENT_COLUMNS}, "
        f"UNIQUE ({V1_KEY}, measured_at));"
        f"CREATE INDEX measurements_key ON measurements ({V1_KEY});"
        "PRAGMA user_version = 1;")
    for compiled, latency in ((0, 20.0), (1, 12.0)):
        conn.execute("INSERT INTO measurements (hardware_id, variant, mode, device, dtype, batch_size, input_size, "
                     "native_input, threads, channels_last, compile, quick, status, latency_ms, measured_at) "
                     "VALUES ('old-cpu-0000', 'resnet18', 'inference', 'cpu', 'fp32', 1, 224, 1, 2, 0, ?, 0, 'ok', ?, "
                     "'2025-01-01T00:00:00+00:00')", [compiled, latency])
    conn.commit()
    conn.close()


def test_version_1_files_are_upgraded_and_stay_readable(db, row):
    _version_1_file(db)
    with ResultStore(db) as store:
        rows = {r["runtime"]: r for r in store.rows()}
        assert set(rows) == {"eager", "compile"}  # compile=1 became runtime 'compile'
        assert rows["eager"]["latency_ms"] == 20.0 and rows["compile"]["latency_ms"] == 12.0
        assert rows["eager"]["converged"] is None and rows["eager"]["stopped_by"] is None  # unknown, not "ok"
        assert "compile" not in rows["eager"]
        m = store.measurements({"runtime": "compile"})[0]
        assert m.key.runtime == "compile" and m.converged is None
        # the new key holds: a cuda_graph row of the same settings is another measurement
        assert store.add(row(hardware_id="old-cpu-0000", runtime="cuda_graph",
                             measured_at="2025-01-01T00:00:00+00:00")) is not None
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def _writer(path: str, tag: str, n: int) -> None:
    from hoot.bench.store import ResultStore, utc_now

    with ResultStore(path) as store:
        for i in range(n):
            store.add({"hardware_id": f"hw-{tag}", "variant": f"m{i}", "mode": "inference", "device": "cpu",
                       "dtype": "fp32", "batch_size": 1, "input_size": 224, "threads": 1, "channels_last": False,
                       "compile": False, "quick": False, "status": "ok", "latency_ms": float(i + 1),
                       "measured_at": utc_now()})


def test_two_processes_writing_at_once_lose_nothing(db):
    ResultStore(db).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(db), tag, 150)) for tag in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with ResultStore(db) as store:
        rows = store.rows(latest=False)
    assert len(rows) == 300
    assert {r["hardware_id"] for r in rows} == {"hw-a", "hw-b"}
    assert {r["runtime"] for r in rows} == {"eager"}  # the old compile flag still reads


def test_latest_row_per_settings_and_has(db, row):
    with ResultStore(db) as store:
        first = row(latency_ms=30.0, measured_at="2026-01-01T00:00:00+00:00")
        store.add(first)
        store.add(row(latency_ms=10.0, measured_at="2026-01-02T00:00:00+00:00"))
        store.add(row(batch_size=8, status="error", latency_ms=None, error="boom"))
        store.add(row(batch_size=16, status="oom", latency_ms=None, error="CUDA out of memory"))
        assert [r["latency_ms"] for r in store.rows({"batch_size": 1})] == [10.0]
        assert len(store.rows({"batch_size": 1}, latest=False)) == 2
        key = {k: first[k] for k in KEY_COLUMNS}
        assert store.has(key) and store.has(SettingsKey.from_row(first))
        assert not store.has({**key, "batch_size": 8})  # error rows are measured again
        assert not store.has({**key, "batch_size": 16})  # and so are oom rows
        assert not store.has({**key, "dtype": "bf16"})
        assert not store.has({**key, "runtime": "compile"})
        legacy = {**{k: v for k, v in key.items() if k != "runtime"}, "compile": False}
        assert store.has(legacy)  # a version-1 key (compile flag) reads as runtime eager


def test_a_failed_rerun_does_not_hide_the_ok_row_from_rankings(db, row):
    with ResultStore(db) as store:
        store.add(row(latency_ms=10.0, measured_at="2026-01-01T00:00:00+00:00"))
        store.add(row(status="error", latency_ms=None, error="killed", measured_at="2026-01-02T00:00:00+00:00"))
        assert store.rows()[0]["status"] == "error"  # show: the newest row
        assert store.rows(prefer_ok=True)[0]["latency_ms"] == 10.0  # rankings: the newest ok row


def test_add_rejects_bad_rows(db, row):
    with ResultStore(db) as store:
        with pytest.raises(HootError, match="status"):
            store.add(row(status="fine"))
        with pytest.raises(HootError, match="latency_ms"):
            store.add(row(latency_ms=None))
        with pytest.raises(HootError, match="runtime"):
            store.add(row(runtime="tensorrt"))
        with pytest.raises(HootError, match="stopped_by"):
            store.add(row(stopped_by="boredom"))


def test_measurements_are_typed_records(db, row):
    with ResultStore(db) as store:
        store.add(row(converged=False, stopped_by="time_cap", latency_spread_ms=1.5))
        m = store.measurements()[0]
    assert m.key.threads == 2 and m.key.runtime == "eager" and m.setting.batch_size == 1
    assert m.converged is False and m.stopped_by == "time_cap" and m.latency_spread_ms == 1.5
    assert m.to_row()["variant"] == "resnet18"


def test_import_validates_row_by_row_and_is_all_or_nothing(db, row):
    with ResultStore(db) as store:
        good = row()
        bad = row(variant="b", batch_size="many")
        with pytest.raises(HootError, match=r"row 2: field 'batch_size' is 'many'"):
            store.import_rows([good, bad], source="x.json")
        assert store.rows() == []
        with pytest.raises(HootError, match=r"row 1: field 'device'"):
            store.import_rows([row(device="tpu")])
        with pytest.raises(HootError, match=r"row 1: unknown field 'latency_s'"):
            store.import_rows([{**row(), "latency_s": 1.0}])
        with pytest.raises(HootError, match=r"row 2: variant 'resnet9000' is not in the catalog"):
            store.import_rows([good, row(variant="resnet9000")], variants={"resnet18"})
        assert store.rows() == []
        # CSV cells arrive as text and are coerced
        text_row = {k: ("" if v is None else str(v)) for k, v in row(hw_gpu_name="Jetson Orin").items()}
        text_row["hardware_id"] = "jetson-orin-1234abcd"
        assert store.import_rows([text_row, good]) == (2, 0)
        assert store.import_rows([good]) == (0, 1)  # idempotent
        imported = store.rows({"hardware_id": "jetson-orin-1234abcd"})[0]
        assert imported["batch_size"] == 1 and imported["channels_last"] is False and imported["latency_ms"] == 20.0
        assert store.hardware("jetson-orin-1234abcd")[0]["gpu_name"] == "Jetson Orin"
        # a version-1 export row (compile flag, no runtime) imports as runtime compile
        old = {k: v for k, v in row(variant="resnet34").items() if k not in ("runtime", "converged", "stopped_by")}
        assert store.import_rows([{**old, "compile": "1"}]) == (1, 0)
        assert store.rows({"variant": "resnet34"})[0]["runtime"] == "compile"


def test_export_rows_carry_hardware(db, row):
    with ResultStore(db) as store:
        store.save_hardware({"hardware_id": "test-cpu-00000000", "cpu_model": "Test CPU", "cpu_cores": 2})
        store.add(row())
        out = store.export_rows()
    assert out[0]["hw_cpu_model"] == "Test CPU" and "id" not in out[0]
    json.dumps(out)


def test_two_store_connections_share_the_work_through_claims(db, row):
    key = SettingsKey.from_row(row())
    with ResultStore(db) as a, ResultStore(db) as b:
        assert a.claim(key, "host:1", ttl_s=60)
        assert not b.claim(key, "host:2", ttl_s=60)  # the other process skips it
        assert b.claimed_by_other(key, "host:2") and not a.claimed_by_other(key, "host:1")
        assert a.claim(key, "host:1", ttl_s=60)  # renewing one's own claim
        other = SettingsKey.from_row(row(batch_size=8))
        assert b.claim(other, "host:2", ttl_s=60)  # a different key is free
        a.release(key, "host:1")
        assert b.claim(key, "host:2", ttl_s=60)  # released on finish
        b.release(None, "host:2")  # everything of one owner (its run ends)
        assert a.claim(other, "host:1", ttl_s=0.0)
        assert b.claim(other, "host:2", ttl_s=60)  # an expired claim (its owner crashed) is taken over


def test_read_only_database_is_named_and_still_readable(db, row):
    with ResultStore(db) as store:
        store.add(row())
    os.chmod(db, stat.S_IRUSR | stat.S_IRGRP)
    try:
        with pytest.raises(HootError, match="cannot be written: the file is read-only"):
            ResultStore(db)
        with ResultStore(db, readonly=True) as store:
            assert len(store.rows()) == 1
    finally:
        os.chmod(db, stat.S_IRUSR | stat.S_IWUSR)


def test_a_missing_folder_is_named_and_not_created(tmp_path):
    target = tmp_path / "nonexistent" / "dir" / "x.sqlite"
    with pytest.raises(HootError, match=r"folder '.*nonexistent/dir' does not exist"):
        ResultStore(target)
    assert not (tmp_path / "nonexistent").exists()


def test_an_unexplained_kill_is_an_error_not_an_oom():
    status, message = classify_exit(-9)
    assert status == "error" and "killed" in message and "possibly out of memory" in message
    assert classify_exit(-9, reported_oom=True)[0] == "oom"
    assert classify_exit(-6) == ("error", "child process crashed (SIGABRT)")
    assert classify_exit(3)[0] == "error"


def test_store_imports_no_torch():
    import subprocess
    import sys

    code = ("import sys, hoot.bench.store, hoot.bench.advice_rows, hoot.bench.hardware; "
            "hoot.bench.hardware.current_hardware_id(); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
