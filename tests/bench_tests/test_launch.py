"""Launch-bound flag: eager batch-1 latency against its CUDA-graph twin at the same setting."""

from __future__ import annotations

from hoot.bench.launch import LAUNCH_BOUND_RATIO, annotate, launch_checks


def _row(variant="resnet18", runtime="eager", latency_ms=1.0, status="ok", **kw):
    base = {"hardware_id": "h", "variant": variant, "mode": "inference", "device": "cuda:0", "dtype": "bf16",
            "batch_size": 1, "input_size": 224, "threads": 16, "channels_last": False, "quick": False}
    return {**base, "runtime": runtime, "latency_ms": latency_ms, "status": status, **kw}


def test_eager_over_graph_above_the_ratio_is_launch_bound():
    rows = [_row(latency_ms=4.0), _row(runtime="cuda_graph", latency_ms=1.0),
            _row("resnet50", latency_ms=1.4), _row("resnet50", runtime="cuda_graph", latency_ms=1.0)]
    checks = {c.variant: c for c in launch_checks(rows).values()}
    assert checks["resnet18"].eager_over_graph == 4.0 and checks["resnet18"].launch_bound
    assert not checks["resnet50"].launch_bound and LAUNCH_BOUND_RATIO == 1.5
    shown = annotate(rows)
    assert [r["launch_bound"] for r in shown] == [True, True, False, False]  # both rows of a pair say it


def test_only_like_for_like_pairs_count():
    rows = [_row(latency_ms=4.0), _row(runtime="cuda_graph", latency_ms=1.0, dtype="fp32"),  # another dtype
            _row("vgg11", latency_ms=4.0), _row("vgg11", runtime="cuda_graph", status="error", latency_ms=None),
            _row("alexnet", latency_ms=4.0), _row("alexnet", runtime="cuda_graph", latency_ms=1.0, batch_size=64)]
    assert launch_checks(rows) == {}
    assert all(r["launch_bound"] is None and r["eager_over_graph"] is None for r in annotate(rows))
