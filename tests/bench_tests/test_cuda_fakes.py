"""CUDA code paths exercised with fakes (this CI has no GPU): auto batch size on a fake
allocator, allocator peaks, NVML fingerprint, autocast, device and dtype checks."""

from __future__ import annotations

import pytest
import torch

from hoot.advisor.errors import HootError
from hoot.bench.autobatch import MB, auto_batch_size, is_oom, search_batch_size
from hoot.bench.hardware import collect_hardware, hardware_id_for
from hoot.bench.memory import CUDAPeak
from hoot.bench.runner import check_dtype, resolve_device
from hoot.bench.worker import _autocast


class FakeAllocator:
    """A GPU of `capacity` bytes; a step at batch b needs fixed + b * per_sample bytes, reserved
    rounded up to 2 MiB blocks; over capacity raises torch's out-of-memory error."""

    def __init__(self, capacity=10_000 * MB, fixed=500 * MB, per_sample=37 * MB):
        self.capacity, self.fixed, self.per_sample = capacity, fixed, per_sample
        self.peak = 0
        self.released = 0
        self.steps = []

    # the parts of torch.cuda that auto_batch_size uses
    def get_device_properties(self, device):
        return type("Props", (), {"total_memory": self.capacity})()

    def mem_get_info(self, device):
        return self.capacity, self.capacity

    def memory_reserved(self, device):
        return 0

    def reset_peak_memory_stats(self, device):
        self.peak = 0

    def synchronize(self, device=None):
        pass

    def empty_cache(self):
        self.released += 1

    def max_memory_reserved(self, device):
        return self.peak

    def step(self, batch):
        self.steps.append(batch)
        need = self.fixed + batch * self.per_sample
        if need > self.capacity:
            raise torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {need / MB:.0f} MiB")
        self.peak = -(-need // (2 * MB)) * 2 * MB


class FakeTorch:
    def __init__(self, cuda):
        self.cuda = cuda


def test_auto_batch_size_finds_largest_batch_under_the_budget():
    gpu = FakeAllocator()
    found = auto_batch_size(gpu.step, FakeTorch(gpu), "cuda:0", target_fraction=0.85, safety_margin=0.10,
                            max_batch=4096)
    budget = 10_000 * MB * 0.85 * 0.9
    # brute force: the largest batch whose rounded-up reservation fits the budget
    expected = max(b for b in range(1, 4097) if -(-(500 * MB + b * 37 * MB) // (2 * MB)) * 2 * MB <= budget)
    assert found.batch_size == expected
    assert found.budget_mb == pytest.approx(budget / MB)
    assert found.peak_mb <= found.budget_mb
    outcomes = {o for _, o, _ in found.tried}
    assert "fit" in outcomes and ("over" in outcomes or "oom" in outcomes)
    assert len(found.tried) < 25  # doubling + bisection, not a linear scan
    assert gpu.released >= len(found.tried)  # memory released after every try


def test_search_recovers_from_out_of_memory_and_keeps_going():
    gpu = FakeAllocator(capacity=1_000 * MB, fixed=100 * MB, per_sample=100 * MB)
    found = search_batch_size(lambda b: (gpu.step(b), gpu.peak)[1], budget_bytes=2_000 * MB, max_batch=64)
    assert found.batch_size == 9  # 100 + 9*100 = 1000 MiB: the last that does not raise
    assert any(o == "oom" for _, o, _ in found.tried)


def test_search_caps_at_max_batch_and_reports_zero_when_nothing_fits():
    assert search_batch_size(lambda b: 1.0, budget_bytes=10.0, max_batch=100).batch_size == 100
    found = search_batch_size(lambda b: 1e12, budget_bytes=10.0, max_batch=100)
    assert found.batch_size == 0 and found.peak_mb is None


def test_search_does_not_swallow_real_errors():
    def broken(b):
        raise ValueError("shape mismatch")

    with pytest.raises(ValueError):
        search_batch_size(broken, budget_bytes=1e9)


def test_is_oom_recognises_torch_and_library_errors():
    assert is_oom(torch.OutOfMemoryError("x"))
    assert is_oom(torch.cuda.OutOfMemoryError("x"))
    assert is_oom(RuntimeError("CUDA error: out of memory"))
    assert is_oom(RuntimeError("cuDNN error: CUDNN_STATUS_ALLOC_FAILED"))
    assert is_oom(MemoryError())
    assert not is_oom(RuntimeError("size mismatch"))
    assert not is_oom(ValueError("out of memory"))


def test_cuda_peaks_are_reset_then_read():
    gpu = FakeAllocator()
    gpu.max_memory_allocated = lambda device: 300 * MB
    peak = CUDAPeak(FakeTorch(gpu), "cuda:0")
    gpu.peak = 999 * MB
    peak.reset()
    gpu.step(10)
    allocated, reserved = peak.peaks_mb()
    assert allocated == 300.0 and reserved == pytest.approx(870.0)


class FakeNVML:
    """pynvml's surface as hardware.nvml_gpus uses it."""

    def __init__(self, fail_init=False):
        self.fail_init = fail_init
        self.shutdown = False

    def nvmlInit(self):
        if self.fail_init:
            raise RuntimeError("NVML Shared Library Not Found")

    def nvmlShutdown(self):
        self.shutdown = True

    def nvmlSystemGetDriverVersion(self):
        return b"580.65.06"

    def nvmlDeviceGetCount(self):
        return 1

    def nvmlDeviceGetHandleByIndex(self, i):
        return i

    def nvmlDeviceGetName(self, h):
        return "NVIDIA H100 80GB HBM3"

    def nvmlDeviceGetMemoryInfo(self, h):
        return type("Mem", (), {"total": 81559 * MB})()

    def nvmlDeviceGetCudaComputeCapability(self, h):
        return (9, 0)


def test_nvml_fingerprint_reads_gpu_driver_and_capability():
    nvml = FakeNVML()
    info = collect_hardware(nvml)
    assert info["gpu_name"] == "NVIDIA H100 80GB HBM3" and info["gpu_memory_mb"] == 81559
    assert info["gpu_driver"] == "580.65.06" and info["gpu_compute_capability"] == "9.0"
    assert info["hardware_id"].startswith("nvidia-h100-80gb-hbm3-")
    assert nvml.shutdown
    # the driver is software: updating it keeps the id
    assert hardware_id_for({**info, "gpu_driver": "999.0"}) == info["hardware_id"]


def test_no_nvml_means_cpu_only_not_an_error():
    info = collect_hardware(FakeNVML(fail_init=True))
    assert info["gpu_count"] == 0 and info["gpu_name"] is None
    assert info["hardware_id"] == hardware_id_for(info)
    assert not info["hardware_id"].startswith("nvidia")


@pytest.mark.filterwarnings("ignore:CUDA is not available")
def test_autocast_contexts():
    ctx = _autocast(torch.device("cuda"), "fp16")
    assert isinstance(ctx, torch.autocast) and ctx.device == "cuda" and ctx.fast_dtype == torch.float16
    ctx = _autocast(torch.device("cpu"), "bf16")
    assert isinstance(ctx, torch.autocast) and ctx.fast_dtype == torch.bfloat16
    assert not isinstance(_autocast(torch.device("cpu"), "fp32"), torch.autocast)


def test_device_resolution():
    no_gpu = {"torch_version": "2.x", "cuda_devices": []}
    one_gpu = {"cuda_devices": ["NVIDIA H100"], "cuda_bf16": True, "cpu_bf16": False}
    assert resolve_device("auto", no_gpu) == "cpu"
    assert resolve_device("auto", one_gpu) == "cuda:0"
    assert resolve_device("cuda", one_gpu) == "cuda:0"
    with pytest.raises(HootError, match="sees no CUDA GPU"):
        resolve_device("cuda", no_gpu)
    with pytest.raises(HootError, match="no such GPU"):
        resolve_device("cuda:3", one_gpu)
    with pytest.raises(HootError, match="not understood"):
        resolve_device("tpu", one_gpu)
    with pytest.raises(HootError, match="fp16 runs on CUDA only"):
        check_dtype("fp16", "cpu", one_gpu)
    with pytest.raises(HootError, match="no bfloat16"):
        check_dtype("bf16", "cpu", one_gpu)
    check_dtype("bf16", "cuda:0", one_gpu)


def test_auto_batch_search_is_bounded_in_time_and_bisection_steps():
    gpu = FakeAllocator()
    now = [0.0]

    def step(b):
        now[0] += 1.0  # every real training step costs a second on this fake clock
        gpu.step(b)
        return gpu.peak

    found = search_batch_size(step, budget_bytes=10_000 * MB * 0.85 * 0.9, max_batch=4096, max_bisect=2,
                              clock=lambda: now[0])
    assert found.stopped_by == "max_bisect" and found.search_s == pytest.approx(len(found.tried))
    assert len(found.tried) == 9 + 2  # 1, 2, 4, ..., 256 (the first failure), then two bisection steps
    exact = search_batch_size(lambda b: (gpu.step(b), gpu.peak)[1], budget_bytes=10_000 * MB * 0.85 * 0.9,
                              max_batch=4096)
    assert 0.75 * exact.batch_size <= found.batch_size <= exact.batch_size  # within 1/2**2 of the answer
    now[0] = 0.0
    timed = search_batch_size(step, budget_bytes=10_000 * MB * 0.85 * 0.9, max_batch=4096, time_budget_s=4.0,
                              clock=lambda: now[0])
    assert timed.stopped_by == "time_budget" and timed.batch_size == 8 and timed.search_s <= 5.0


def test_gpu_defaults_half_precision_and_a_throughput_batch(capsys):
    from click.core import ParameterSource

    from hoot.cli.bench import THROUGHPUT_BATCH, _gpu_defaults

    class Ctx:
        def __init__(self, chosen=()):
            self.chosen = chosen

        def get_parameter_source(self, name):
            return ParameterSource.COMMANDLINE if name in self.chosen else ParameterSource.DEFAULT

    assert _gpu_defaults(Ctx(), "cuda:0", {"cuda_bf16": True}, (1,), "fp32", ("eager",)) == ((1, THROUGHPUT_BATCH), "bf16")
    assert "GPU defaults" in capsys.readouterr().err
    assert _gpu_defaults(Ctx(), "cuda:0", {"cuda_bf16": False}, (1,), "fp32", ("eager",))[1] == "fp16"
    capsys.readouterr()
    assert _gpu_defaults(Ctx(("dtype", "batch_size")), "cuda:0", {}, (8,), "fp32", ("eager",)) == ((8,), "fp32")
    assert _gpu_defaults(Ctx(), "cpu", {}, (1,), "fp32", ("eager",)) == ((1,), "fp32")  # CPU unchanged
    assert capsys.readouterr().err == ""
