"""Pareto front, compare's side specs, and the annotate guard."""

from __future__ import annotations

import pytest

from hoot.advisor.errors import HootError, NoAnswer
from hoot.bench.compare import compare, parse_side
from hoot.bench.report import pareto_front
from hoot.bench.store import ResultStore


def test_pareto_front_keeps_only_undominated_points():
    pts = [(5.0, 60.0, "a"), (10.0, 70.0, "b"), (12.0, 65.0, "c"), (20.0, 80.0, "d"), (25.0, 79.0, "e"),
           (5.0, 58.0, "f")]
    assert [p[2] for p in pareto_front(pts)] == ["a", "b", "d"]
    assert pareto_front([]) == []


def test_compare_two_settings_and_two_machines(db, row, monkeypatch):
    monkeypatch.setattr("hoot.bench.hardware.current_hardware_id", lambda: "test-cpu-00000000")
    with ResultStore(db) as store:
        store.add(row(latency_ms=20.0))
        store.add(row(latency_ms=10.0, dtype="bf16"))
        store.add(row(variant="mobilenet_v3_small", latency_ms=5.0))
        store.add(row(hardware_id="gpu-box-11111111", device="cuda:0", latency_ms=2.0, peak_memory_mb=50.0))
        store.add(row(hardware_id="gpu-box-11111111", device="cpu", latency_ms=15.0))
        rows, a, b = compare(store, "this,dtype=fp32", "this,dtype=bf16")
        assert [(r["variant"], r["latency_ratio"]) for r in rows] == [("resnet18", 0.5)]
        assert "dtype=fp32" in a and "dtype=bf16" in b
        rows, _, _ = compare(store, "this", "gpu-box")  # the GPU row is preferred on the GPU machine
        fp32 = [r for r in rows if r["dtype"] == "fp32"]
        assert fp32 == [r for r in rows if r["variant"] == "resnet18" and r["dtype"] == "fp32"]
        assert fp32[0]["latency_ms_b"] == 2.0 and fp32[0]["latency_ratio"] == pytest.approx(0.1)
        assert fp32[0]["memory_ratio"] == pytest.approx(0.5)
        # each side is one setting, named in its label: never the CPU row of one model beside GPU rows
        rows, a, b = compare(store, "this", "gpu-box")
        assert a.endswith("cpu fp32 batch 1 native px 2 threads eager")
        assert b.endswith("cuda:0 fp32 batch 1 native px 2 threads eager")
        rows, _, b = compare(store, "this", "gpu-box,device=cpu")
        assert rows[0]["latency_ms_b"] == 15.0 and "cpu fp32" in b
        with pytest.raises(HootError, match="not key=value"):
            parse_side(store, "this,fast")
        with pytest.raises(HootError, match="batch must be a positive integer"):
            parse_side(store, "this,batch=big")
        with pytest.raises(HootError, match="the same"):
            compare(store, "this", "this")
        with pytest.raises(NoAnswer):
            compare(store, "this,dtype=fp16", "this")


def test_annotate_only_fills_figure_columns(db, row):
    with ResultStore(db) as store:
        rid = store.add(row(gmacs=None, gflops=None))
        store.annotate([rid], {"gmacs": 1.5, "gflops": 3.0})
        assert store.rows()[0]["gmacs"] == 1.5
        with pytest.raises(ValueError):
            store.annotate([rid], {"latency_ms": 1.0})
