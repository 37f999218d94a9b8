"""`hoot bench show|report|compare|export|import` on a prepared store: one setting per table, convergence
shown, a read-only store still readable, unwritable outputs and unknown models one line each."""

from __future__ import annotations

import json
import os
import stat

import pytest
from click.testing import CliRunner

from hoot.bench.store import ResultStore
from hoot.cli.main import cli

HW = "test-cpu-00000000"


def run(args):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


@pytest.fixture
def store_db(db, row, monkeypatch):
    monkeypatch.setattr("hoot.bench.hardware.current_hardware_id", lambda: HW)
    with ResultStore(db) as store:
        store.save_hardware({"hardware_id": HW, "cpu_model": "Test CPU", "cpu_cores": 2})
        store.add(row(variant="resnet18", latency_ms=16.6))
        store.add(row(variant="mobilenet_v3_small", latency_ms=4.0, converged=False, stopped_by="time_cap"))
        store.add(row(variant="resnet18", threads=1, latency_ms=28.0))
        store.add(row(variant="resnet18", device="cuda:0", latency_ms=2.0))
    return db


def test_show_has_the_distinguishing_columns_and_flags_unsettled_rows(store_db):
    out = run(["bench", "show", "--db", str(store_db), "--format", "json"])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.stdout)
    assert {(r["variant"], r["threads"], r["device"]) for r in rows} == {
        ("resnet18", 2, "cpu"), ("mobilenet_v3_small", 2, "cpu"), ("resnet18", 1, "cpu"), ("resnet18", 2, "cuda:0")}
    assert all("runtime" in r and "converged" in r and "quick" in r for r in rows)
    assert "1 of 4 row(s) not converged" in out.stderr
    one = json.loads(run(["bench", "show", "--db", str(store_db), "--threads", "1", "--format", "json"]).stdout)
    assert [r["latency_ms"] for r in one] == [28.0]


def test_report_has_one_table_per_setting_and_says_which_it_plots(store_db, tmp_path):
    out = tmp_path / "report"
    rep = run(["bench", "report", "--db", str(store_db), "--output", str(out)])
    assert rep.exit_code == 0, rep.output
    md = (out / "index.md").read_text()
    assert "Plots and the Pareto front use one setting: **cpu fp32 batch 1 native px 2 threads eager**" in md
    headings = [line for line in md.splitlines() if line.startswith("## Measurements: ")]
    assert len(headings) == 3  # 2 threads, 1 thread, cuda: never in one table
    header = next(line for line in md.split("## Measurements: ")[1].splitlines() if line.startswith("| variant"))
    assert all(f" {c} " in header for c in ("threads", "runtime", "dtype", "batch_size", "input_size", "quick",
                                             "converged"))
    assert "not converged (time_cap)" in md
    html = (out / "index.html").read_text()
    assert html.count("<h2>Measurements: ") == 3


def test_compare_sides_each_hold_one_setting(store_db):
    cmp = run(["bench", "compare", "this,threads=2", "this,threads=1", "--db", str(store_db), "--format", "json"])
    assert cmp.exit_code == 0, cmp.output
    rows = json.loads(cmp.stdout)
    assert [(r["variant"], r["latency_ms_a"], r["latency_ms_b"]) for r in rows] == [("resnet18", 16.6, 28.0)]
    assert "2 threads" in cmp.stderr and "1 threads" in cmp.stderr


def test_a_read_only_store_is_still_readable(store_db, tmp_path):
    os.chmod(store_db, stat.S_IRUSR)
    try:
        assert run(["bench", "show", "--db", str(store_db), "--format", "csv"]).exit_code == 0
        assert run(["bench", "report", "--db", str(store_db), "-o", str(tmp_path / "r")]).exit_code == 0
        assert run(["bench", "export", "--db", str(store_db)]).exit_code == 0
    finally:
        os.chmod(store_db, stat.S_IRUSR | stat.S_IWUSR)


def test_show_and_report_flag_launch_bound_models(db, row, tmp_path, monkeypatch):
    """Eager batch-1 latency over 1.5x its CUDA-graph twin at the same setting: launch-bound."""
    monkeypatch.setattr("hoot.bench.hardware.current_hardware_id", lambda: HW)
    gpu = {"device": "cuda:0", "dtype": "bf16", "threads": 16, "memory_kind": "cuda_allocator"}
    with ResultStore(db) as store:
        store.save_hardware({"hardware_id": HW, "cpu_model": "Test CPU", "cpu_cores": 16, "gpu_name": "Test GPU"})
        store.add(row(variant="resnet18", latency_ms=3.7, **gpu))
        store.add(row(variant="resnet18", runtime="cuda_graph", latency_ms=0.9, **gpu))
        store.add(row(variant="resnet50", latency_ms=4.0, **gpu))
        store.add(row(variant="resnet50", runtime="cuda_graph", latency_ms=3.5, **gpu))
    out = run(["bench", "show", "--db", str(db), "--format", "json"])
    shown = {(r["variant"], r["runtime"]): r for r in json.loads(out.stdout)}
    assert shown[("resnet18", "eager")]["launch_bound"] is True and shown[("resnet18", "eager")]["eager_over_graph"] == 4.11
    assert shown[("resnet50", "cuda_graph")]["launch_bound"] is False
    assert "launch-bound (eager over 1.5x its CUDA graph): resnet18" in out.stderr
    rep = run(["bench", "report", "--db", str(db), "--output", str(tmp_path / "r")])
    assert rep.exit_code == 0, rep.output
    md = (tmp_path / "r" / "index.md").read_text()
    section = md.split("## Launch-bound")[1].split("\n## ")[0]
    assert "resnet18" in section and "4.11" in section and "| True" in section.replace("  ", " ")
