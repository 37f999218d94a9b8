"""Runtimes other than eager on the CPU: ONNX Runtime fp32 and INT8 rows on a tiny model, an export
failure as an error row, CUDA graph capture failure as an error row, and the store row's schema."""

from __future__ import annotations

import pytest
import torch

from hoot.advisor.errors import HootError
from hoot.bench.graphs import GraphCaptureError, capture_inference
from hoot.bench.jobs import Annotation, BenchJob, RowMessage
from hoot.bench.records import Measurement
from hoot.bench.runner import RunOptions, run_jobs
from hoot.bench.store import ResultStore
from hoot.testing.bench_rows import FAKE_BUILDER

HW = "test-cpu-00000000"


def job(variant: str = "resnet18", runtime: str = "eager", **over) -> BenchJob:
    fields = dict(hardware_id=HW, variant=variant, family="ResNet", task="classification", device="cpu",
                  dtype="fp32", input_size=32, native_input=False, threads=1, channels_last=False, runtime=runtime,
                  quick=True, pairs=(("inference", 1), ("inference", 2)), builder=FAKE_BUILDER,
                  calibration_batches=2)
    fields.update(over)
    return BenchJob(**fields)


def run_in_process(j: BenchJob) -> tuple[list[Measurement], dict]:
    from hoot.bench.worker import run_job

    sent: list = []
    run_job(j, sent.append)
    rows = [m.measurement for m in sent if isinstance(m, RowMessage)]
    notes = [m.fields for m in sent if isinstance(m, Annotation)]
    return rows, notes[0] if notes else {}


@pytest.mark.parametrize("runtime", ["onnxruntime", "int8"])
def test_onnxruntime_and_int8_rows_on_a_tiny_model(runtime):
    pytest.importorskip("onnxruntime")
    rows, figures = run_in_process(job(runtime=runtime))
    assert [(m.key.mode, m.key.batch_size) for m in rows] == [("inference", 1), ("inference", 2)]
    for m in rows:
        assert m.status == "ok", m.error
        assert m.key.runtime == runtime and m.latency_ms > 0 and m.stopped_by in ("converged", "time_cap", "max_iters")
        assert m.converged == (m.stopped_by == "converged")
        assert m.extra["onnx_file_mb"] > 0 and "CPUExecutionProvider" in m.extra["providers"]
        assert m.latency_spread_ms >= 0 and m.latency_p10_ms <= m.latency_p90_ms
    assert figures["gmacs"] > 0  # FLOPs of the PyTorch model, the same network


def test_export_failure_is_an_error_row_with_the_reason():
    pytest.importorskip("onnxruntime")
    rows, _ = run_in_process(job("resnext50_32x4d", runtime="onnxruntime", pairs=(("inference", 1),)))
    assert rows[0].status == "error" and "ONNX export failed" in rows[0].error and "svdvals" in rows[0].error


def test_cuda_graph_on_a_cpu_job_is_an_error_row_and_the_run_goes_on(db):
    with ResultStore(db) as store:
        rows = run_jobs([job(runtime="cuda_graph"), job("mobilenet_v3_small")], store, HW, progress=False)
    assert rows[0]["status"] == "error" and "CUDA graphs need a CUDA device" in rows[0]["error"]
    assert [r["status"] for r in rows[2:]] == ["ok", "ok"]


class FailingGraphCuda:
    """torch.cuda as capture_inference uses it, where capture raises as a model with a host sync does."""

    class Stream:
        def __init__(self, device=None):
            pass

        def wait_stream(self, other):
            pass

    def current_stream(self, device=None):
        return self.Stream()

    def stream(self, s):
        import contextlib

        return contextlib.nullcontext()

    def synchronize(self, device=None):
        pass

    class CUDAGraph:
        pass

    def graph(self, g):
        raise RuntimeError("operation not permitted when stream is capturing\nmore detail")


def test_graph_capture_failure_names_the_reason():
    warmed = []
    model = lambda x: warmed.append(1) or x  # noqa: E731
    with pytest.raises(GraphCaptureError, match="capture failed: RuntimeError: operation not permitted"):
        capture_inference(model, torch.zeros(1), "cuda:0", "fp32", warmup_iters=3, cuda=FailingGraphCuda())
    assert len(warmed) == 3  # warmed up on the side stream before capturing


def test_settings_reject_runtime_combinations_that_cannot_be_measured():
    with pytest.raises(HootError, match="needs a CUDA device"):
        RunOptions(device="cpu", runtimes=("eager", "cuda_graph"))
    with pytest.raises(HootError, match="drop --dtype"):
        RunOptions(device="cpu", dtype="bf16", runtimes=("int8",))
    with pytest.raises(HootError, match="unknown"):
        RunOptions(runtimes=("tensorrt",))


def test_a_measurement_keeps_runtime_and_convergence_through_the_store(db):
    m = Measurement(key=job(runtime="int8").key("inference", 1), status="ok", latency_ms=1.0, converged=False,
                    stopped_by="time_cap", latency_spread_ms=0.2, measured_at="2026-01-01T00:00:00+00:00",
                    extra={"onnx_file_mb": 1.5})
    with ResultStore(db) as store:
        store.add(m)
        (back,) = store.measurements()
    assert back.key.runtime == "int8" and back.converged is False and back.stopped_by == "time_cap"
    assert back.latency_spread_ms == 0.2 and back.extra["onnx_file_mb"] == 1.5


def test_stored_rows_carry_the_runtime(db):
    pytest.importorskip("onnxruntime")
    with ResultStore(db) as store:
        run_jobs([job(pairs=(("inference", 1),)), job(runtime="onnxruntime", pairs=(("inference", 1),))],
                 store, HW, progress=False)
        stored = store.rows()
    assert sorted(r["runtime"] for r in stored) == ["eager", "onnxruntime"]
    assert all(r["stopped_by"] in ("converged", "time_cap", "max_iters") for r in stored)
