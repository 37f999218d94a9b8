"""The timing loop: warm-up, then timed blocks until the median is stable or a time cap hits.

The stopping rule follows torch.utils.benchmark's `adaptive_autorange`: keep measuring
while the spread is wide (IQR / median above a threshold) and stop once it is narrow and
a minimum time has passed, or at a hard cap. Unlike `Timer`, every iteration is timed
on its own, so the result carries a real distribution (median, p10, p90, coefficient of
variation) rather than block means. On CUDA each iteration is bracketed by CUDA events and
synchronised, so a number is one request's latency on the GPU clock, not the time to
enqueue kernels.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np


@dataclass(frozen=True)
class Budget:
    """How long to measure. `quick` is a first look; the default aims at stable medians."""

    warmup_iters: int = 3  # at least this many untimed calls ...
    warmup_s: float = 0.3  # ... and at least this long (whichever comes later) ...
    warmup_cap_s: float = 5.0  # ... but stop warming up after this long (one call minimum)
    min_iters: int = 10  # timed iterations before the stopping rule may fire
    min_s: float = 1.0  # seconds of timed iterations before the rule may fire
    max_s: float = 10.0  # hard cap on timed seconds (min_iters_floor still applies)
    min_iters_floor: int = 3  # never report a median of fewer samples
    iqr_threshold: float = 0.1  # stop when IQR / median is below this (torch's default)
    median_tol: float = 0.01  # ... and the median moved less than this over the last block
    block_s: float = 0.1  # target length of a timed block between checks


FULL = Budget()
QUICK = Budget(warmup_iters=2, warmup_s=0.05, warmup_cap_s=2.0, min_iters=5, min_s=0.15, max_s=1.0, block_s=0.05)


@dataclass
class Timing:
    """Latency statistics of one batch, in milliseconds."""

    median_ms: float
    p10_ms: float
    p90_ms: float
    cv: float  # std / mean of the iteration times
    iterations: int
    timed_s: float  # sum of the timed iterations
    warmup_iters: int
    stopped_by: str  # "stable" | "time_cap"
    samples_ms: list[float] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("samples_ms")
        return d


class CPUTimer:
    """Wall-clock time of each call (perf_counter)."""

    def time_calls(self, fn: Callable[[], Any], n: int) -> list[float]:
        out = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            out.append((time.perf_counter() - t0) * 1e3)
        return out


class CUDATimer:
    """CUDA events around each call, synchronised per call: one request's latency on the GPU clock."""

    def __init__(self, torch_module: Any, device: Any = None):
        self.torch = torch_module
        self.device = device

    def time_calls(self, fn: Callable[[], Any], n: int) -> list[float]:
        cuda = self.torch.cuda
        out = []
        for _ in range(n):
            start = cuda.Event(enable_timing=True)
            end = cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            out.append(float(start.elapsed_time(end)))
        return out


def summarize(samples_ms: list[float]) -> tuple[float, float, float, float]:
    """(median, p10, p90, coefficient of variation) of iteration times."""
    a = np.asarray(samples_ms, dtype=float)
    mean = float(a.mean())
    cv = float(a.std(ddof=1) / mean) if len(a) > 1 and mean > 0 else 0.0
    p10, med, p90 = (float(x) for x in np.percentile(a, [10, 50, 90]))
    return med, p10, p90, cv


def measure(fn: Callable[[], Any], timer: Any | None = None, budget: Budget = FULL,
            clock: Callable[[], float] = time.perf_counter) -> Timing:
    """Warm `fn` up, then time it until its median is stable or the time cap is reached."""
    timer = timer or CPUTimer()
    # warm-up: caches, allocator, cudnn autotuning, lazy compilation
    start = clock()
    warm: list[float] = []
    while True:
        warm.extend(timer.time_calls(fn, 1))
        elapsed = clock() - start
        if len(warm) >= budget.warmup_iters and elapsed >= budget.warmup_s:
            break
        if elapsed >= budget.warmup_cap_s:
            break
    per_call_s = max(min(warm[-max(1, len(warm) // 2):]) / 1e3, 1e-6)

    samples: list[float] = []
    previous_median: float | None = None
    stopped_by = "time_cap"
    while True:
        timed_s = sum(samples) / 1e3
        room = budget.max_s - timed_s
        block = max(1, int(budget.block_s / per_call_s))
        if len(samples) >= budget.min_iters_floor:
            block = min(block, max(1, int(room / per_call_s)))
        samples.extend(timer.time_calls(fn, block))
        timed_s = sum(samples) / 1e3
        median = float(np.median(samples))
        per_call_s = max(median / 1e3, 1e-6)
        if len(samples) >= budget.min_iters_floor:
            q1, q3 = np.percentile(samples, [25, 75])
            iqr_ratio = (q3 - q1) / median if median > 0 else math.inf
            moved = abs(median - previous_median) / median if previous_median and median > 0 else math.inf
            if (timed_s >= budget.min_s and len(samples) >= budget.min_iters
                    and iqr_ratio <= budget.iqr_threshold and moved <= budget.median_tol):
                stopped_by = "stable"
                break
            if timed_s >= budget.max_s:
                break
        previous_median = median
    med, p10, p90, cv = summarize(samples)
    return Timing(med, p10, p90, cv, len(samples), sum(samples) / 1e3, len(warm), stopped_by, samples)
