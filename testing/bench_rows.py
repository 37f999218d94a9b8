"""Valid bench measurement rows to mutate, for store, report and compare tests."""

from __future__ import annotations

from typing import Any

from hoot.bench.store import utc_now

#: the misbehaving builders of hoot.testing.fake_models, as the runner's `builder` spec
FAKE_BUILDER = "hoot.testing.fake_models:build"


def make_row(**over: Any) -> dict[str, Any]:
    """A valid measurement row; keyword arguments override fields."""
    row = {
        "hardware_id": "test-cpu-00000000", "variant": "resnet18", "family": "ResNet", "task": "classification",
        "mode": "inference", "device": "cpu", "dtype": "fp32", "batch_size": 1, "input_size": 224,
        "native_input": True, "threads": 2, "channels_last": False, "runtime": "eager", "quick": False,
        "status": "ok", "converged": True, "stopped_by": "converged", "latency_ms": 20.0, "latency_p10_ms": 19.0, "latency_p90_ms": 22.0, "latency_cv": 0.05,
        "iterations": 50, "throughput_ips": 50.0, "gmacs": 1.814, "gflops": 3.628, "params": 11689512,
        "peak_memory_mb": 100.0, "memory_kind": "cpu_rss", "measured_at": utc_now(),
    }
    row.update(over)
    return row
