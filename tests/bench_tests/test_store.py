"""Results store: schema, WAL, concurrent writers, resume keys, import validation, advice reads."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3

import pytest

from hoot.advisor.errors import HootError
from hoot.bench.store import SCHEMA_VERSION, ResultStore, measurements_for_advice, pick_preferred


def test_schema_is_versioned_and_wal(db):
    with ResultStore(db) as store:
        assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"hardware", "measurements"} <= tables


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


def test_latest_row_per_settings_and_has(db, row):
    with ResultStore(db) as store:
        first = row(latency_ms=30.0, measured_at="2026-01-01T00:00:00+00:00")
        store.add(first)
        store.add(row(latency_ms=10.0, measured_at="2026-01-02T00:00:00+00:00"))
        store.add(row(batch_size=8, status="error", latency_ms=None, error="boom"))
        assert [r["latency_ms"] for r in store.rows({"batch_size": 1})] == [10.0]
        assert len(store.rows({"batch_size": 1}, latest=False)) == 2
        key = {k: first[k] for k in ("hardware_id", "variant", "mode", "device", "dtype", "batch_size", "input_size",
                                     "threads", "channels_last", "compile", "quick")}
        assert store.has(key)
        assert not store.has({**key, "batch_size": 8})  # error rows are measured again
        assert not store.has({**key, "dtype": "bf16"})


def test_add_rejects_bad_rows(db, row):
    with ResultStore(db) as store:
        with pytest.raises(HootError, match="status"):
            store.add(row(status="fine"))
        with pytest.raises(HootError, match="latency_ms"):
            store.add(row(latency_ms=None))


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
        # CSV cells arrive as text and are coerced
        text_row = {k: ("" if v is None else str(v)) for k, v in row(hw_gpu_name="Jetson Orin").items()}
        text_row["hardware_id"] = "jetson-orin-1234abcd"
        assert store.import_rows([text_row, good]) == (2, 0)
        assert store.import_rows([good]) == (0, 1)  # idempotent
        imported = store.rows({"hardware_id": "jetson-orin-1234abcd"})[0]
        assert imported["batch_size"] == 1 and imported["channels_last"] is False and imported["latency_ms"] == 20.0
        assert store.hardware("jetson-orin-1234abcd")[0]["gpu_name"] == "Jetson Orin"


def test_export_rows_carry_hardware(db, row):
    with ResultStore(db) as store:
        store.save_hardware({"hardware_id": "test-cpu-00000000", "cpu_model": "Test CPU", "cpu_cores": 2})
        store.add(row())
        out = store.export_rows()
    assert out[0]["hw_cpu_model"] == "Test CPU" and "id" not in out[0]
    json.dumps(out)


def test_measurements_for_advice_prefers_gpu_then_fp32(db, row, monkeypatch):
    monkeypatch.setattr("hoot.bench.hardware.current_hardware_id", lambda: "test-cpu-00000000")
    assert measurements_for_advice(db) == (None, {})  # no database yet: no results, not an error
    with pytest.raises(HootError, match="does not exist"):
        measurements_for_advice(db, "gpu-box")
    with ResultStore(db) as store:
        store.save_hardware({"hardware_id": "test-cpu-00000000", "cpu_model": "Test CPU"})
        store.add(row(latency_ms=20.0))
        store.add(row(variant="mobilenet_v3_small", latency_ms=5.0))
        store.add(row(device="cuda:0", latency_ms=2.0, dtype="fp16"))
        store.add(row(device="cuda:0", latency_ms=3.0, peak_memory_mb=55.0, memory_kind="cuda_allocator"))
        store.add(row(device="cuda:0", latency_ms=9.0, batch_size=8))  # not batch 1
        store.add(row(device="cuda:0", latency_ms=1.0, input_size=512, native_input=False))
        store.add(row(hardware_id="other-gpu-11111111", latency_ms=1.5))
    info, figures = measurements_for_advice(db, "this")
    assert info["cpu_model"] == "Test CPU" and info["hardware_id"] == "test-cpu-00000000"
    assert figures["resnet18"] == {"latency_ms": 3.0, "peak_memory_mb": 55.0, "device": "cuda:0", "dtype": "fp32",
                                   "input_size": 224, "batch_size": 1}
    assert figures["mobilenet_v3_small"]["device"] == "cpu"  # only measured on the CPU
    info2, figures2 = measurements_for_advice(db, "other")  # a unique prefix
    assert info2["hardware_id"] == "other-gpu-11111111" and figures2["resnet18"]["latency_ms"] == 1.5
    with pytest.raises(HootError, match="known hardware ids: test-cpu-00000000, other-gpu-11111111"):
        measurements_for_advice(db, "jetson")


def test_pick_preferred_cpu_only_machine(row):
    rows = [row(latency_ms=5.0, quick=True), row(latency_ms=6.0), row(latency_ms=4.0, dtype="bf16")]
    assert pick_preferred(rows, ("variant",))[("resnet18",)]["latency_ms"] == 6.0


def test_store_imports_no_torch():
    import subprocess
    import sys

    code = ("import sys, bench.store, bench.hardware; bench.hardware.current_hardware_id(); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
