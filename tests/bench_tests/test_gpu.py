"""Real CUDA: bench rows timed with CUDA events, an out-of-memory row that lets the run go on, CUDA
graph capture, autocast, the automatic training batch size. `make test-gpu` (pytest -m gpu) runs
these; without a CUDA device they skip with the reason.

Unproven until run on a GPU: written on a CPU-only machine (see the measure helper's report).
"""

from __future__ import annotations

import pytest
import torch

from hoot.advisor.catalog import load_catalog
from hoot.bench.runner import RunOptions, plan_jobs, run_jobs
from hoot.bench.store import ResultStore

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (torch.cuda.is_available() is False)"),
]

HW = "test-gpu-00000000"


def _run(db, names, **settings):
    catalog = load_catalog()
    s = RunOptions(**{"device": "cuda:0", "threads": 2, "quick": True, "input_size": 64, **settings})
    with ResultStore(db) as store:
        jobs, _, _ = plan_jobs([catalog.get(n) for n in names], s, HW, store)
        return run_jobs(jobs, store, HW, progress=False)


def test_cuda_rows_are_timed_on_the_gpu_in_half_precision(db):
    dtype = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    rows = _run(db, ["squeezenet1_1", "resnet18"], dtype=dtype, batch_sizes=(1, 8))
    assert len(rows) == 4 and {r["status"] for r in rows} == {"ok"}, rows
    for r in rows:
        assert r["device"] == "cuda:0" and r["dtype"] == dtype and r["memory_kind"] == "cuda_allocator"
        assert 0 < r["latency_p10_ms"] <= r["latency_ms"] <= r["latency_p90_ms"]
        assert r["peak_memory_mb"] > 0 and r["timed_s"] <= 0.5 + 0.2  # the CUDA --quick budget
        assert r["gmacs"] > 0


def test_out_of_memory_is_an_oom_row_and_the_run_goes_on(db):
    rows = _run(db, ["resnet18", "squeezenet1_1"], batch_sizes=(8192, 1), input_size=512)
    by = {(r["variant"], r["batch_size"]): r for r in rows}
    assert by[("resnet18", 8192)]["status"] == "oom", by[("resnet18", 8192)].get("error")
    assert by[("resnet18", 1)]["status"] == "ok"  # the same child goes on after the oom
    assert by[("squeezenet1_1", 1)]["status"] == "ok"


def test_cuda_graph_replay_matches_eager_and_is_stored_as_its_own_runtime(db):
    from hoot.bench.graphs import capture_inference

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1)).cuda().eval()
    x = torch.randn(2, 3, 32, 32, device="cuda")
    replay = capture_inference(model, x, torch.device("cuda:0"), "fp32")
    with torch.no_grad():
        expected = model(x)
    torch.testing.assert_close(replay(), expected)
    rows = _run(db, ["resnet18"], runtimes=("eager", "cuda_graph"))
    assert [r["status"] for r in rows] == ["ok", "ok"], rows
    if "runtime" in rows[0]:
        assert [r["runtime"] for r in rows] == ["eager", "cuda_graph"]


def test_autocast_runs_the_model_in_half_precision():
    from hoot.bench.steps import _autocast

    model = torch.nn.Linear(16, 4).cuda()
    for dtype, torch_dtype in (("fp16", torch.float16), ("bf16", torch.bfloat16)):
        if dtype == "bf16" and not torch.cuda.is_bf16_supported():
            continue
        with torch.inference_mode(), _autocast(torch.device("cuda"), dtype):
            assert model(torch.randn(2, 16, device="cuda")).dtype == torch_dtype


def test_automatic_training_batch_size_is_found_quickly(db):
    rows = _run(db, ["squeezenet1_1"], train=True, batch_sizes=(4,))
    train = [r for r in rows if r["mode"] == "train"][0]
    assert train["status"] == "ok", train.get("error")
    assert train["auto_batch_size"] >= 4
    if "auto_batch_s" in train:
        assert train["auto_batch_s"] <= 15.0


def test_models_are_built_on_the_gpu_and_flops_equal_the_cpu_count():
    from hoot.bench.flops import count_flops
    from hoot.bench.models import build_model
    from hoot.bench.phases import Phases
    from hoot.bench.worker import _flop_figures, build_on
    from hoot.bench.jobs import BenchJob

    device = torch.device("cuda:0")
    build = lambda: build_model("squeezenet1_1")  # noqa: E731
    model = build_on(device, build).eval()
    assert next(model.parameters()).is_cuda  # initialised there: no CPU init, no host-to-device copy
    job = BenchJob(hardware_id=HW, variant="squeezenet1_1", family=None, task="classification", device="cuda:0",
                   dtype="fp32", input_size=64, native_input=False, threads=1, channels_last=False, runtime="eager",
                   quick=True, pairs=(("inference", 1),))
    figures = _flop_figures(job, build, model, device, Phases())
    cpu = count_flops(build().eval(), torch.randn(1, 3, 64, 64)) / 2e9
    assert figures["gmacs"] == pytest.approx(cpu, rel=1e-12)
