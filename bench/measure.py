"""The timing loop: warm-up, then timed blocks until the median of block medians settles.

Every call is timed on its own (so p10/p90 describe a real distribution), and calls are
grouped in blocks of about `block_s`. The statistic is the median of the block medians:
a launch-bound GPU call that jumps between two modes (one call in three twice as slow)
moves single samples and their IQR a lot, but hardly moves a block's median, so the
statistic settles where torch.utils.benchmark's IQR/median rule never fires (issue 9:
CV 0.13-0.25 ran 5 of 6 settings to the cap). The loop stops once, after a minimum time
and number of blocks, the distribution-free 95 % confidence interval of that median
(order statistics of the block medians) is within `rel_tol` of it and the statistic
moved less than `rel_tol` over the last block; else at the time cap (or the iteration
cap). The interval's half-width is reported as `spread_ms`, the reason as `stopped_by`.
On CUDA each call is bracketed by CUDA events and synchronised, so a figure is one
request's latency on the GPU clock, not the time to enqueue kernels. A `monitor`
(bench.contention.BusyMonitor) watches the timed blocks, so every figure says how busy the
machine was while it was taken (`Timing.busy`, `Timing.contended`).
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
    median_tol: float = 0.01  # the statistic moved less than this over the last block ...
    block_s: float = 0.1  # target length of a timed block (one statistic per block)
    min_blocks: int = 5  # blocks before the rule may fire
    rel_tol: float = 0.02  # ... and its 95 % interval's half-width is within this of it
    max_iters: int = 200_000  # a cap on calls for functions of microseconds


#: CPU budgets: the ones hoot has always used (fidelity within 5 % of an independent loop)
FULL = Budget()
QUICK = Budget(warmup_iters=2, warmup_s=0.05, warmup_cap_s=2.0, min_iters=5, min_s=0.15, max_s=1.0, block_s=0.05,
               min_blocks=4, rel_tol=0.05, median_tol=0.02)
#: CUDA budgets: millisecond calls, so ~2 s (quick ~0.5 s) of timed work is plenty
CUDA_FULL = Budget(warmup_iters=10, warmup_s=0.2, warmup_cap_s=5.0, min_iters=20, min_s=0.3, max_s=2.0,
                   block_s=0.05, min_blocks=6, rel_tol=0.01, median_tol=0.01)
CUDA_QUICK = Budget(warmup_iters=5, warmup_s=0.05, warmup_cap_s=2.0, min_iters=10, min_s=0.1, max_s=0.5,
                    block_s=0.025, min_blocks=4, rel_tol=0.03, median_tol=0.02)


def budget_for(device_type: str, quick: bool) -> Budget:
    """The per-setting budget suited to the device: CUDA calls are short, so its budget is too."""
    if device_type == "cuda":
        return CUDA_QUICK if quick else CUDA_FULL
    return QUICK if quick else FULL


@dataclass
class Timing:
    """Latency statistics of one batch, in milliseconds."""

    median_ms: float  # median of block medians
    p10_ms: float  # of single calls
    p90_ms: float
    cv: float  # std / mean of single calls
    iterations: int
    timed_s: float  # sum of the timed iterations
    warmup_iters: int
    stopped_by: str  # records.STOPPED_BY: converged | time_cap | max_iters
    spread_ms: float = 0.0  # half-width of the 95 % interval of median_ms
    blocks: int = 0
    warmup_s: float = 0.0  # wall seconds of the warm-up calls
    samples_ms: list[float] = field(default_factory=list, repr=False)
    busy: Any = None  # bench.contention.Busy of the timed blocks, where a monitor watched them

    @property
    def converged(self) -> bool:
        return self.stopped_by == "converged"

    @property
    def contended(self) -> bool | None:
        """Was the machine busy while the blocks were timed (None: nobody watched)."""
        return None if self.busy is None else bool(self.busy.contended)

    @property
    def spread_pct(self) -> float:
        """p10-p90 of single calls as a percentage of the median."""
        return 100.0 * (self.p90_ms - self.p10_ms) / self.median_ms if self.median_ms else 0.0

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("samples_ms")
        d["busy"] = None if self.busy is None else self.busy.as_dict()
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


def median_interval(values: list[float]) -> tuple[float, float]:
    """(median, half-width of its distribution-free ~95 % interval) from order statistics.

    Ranks k/2 -+ 0.98 sqrt(k) (the normal approximation to the binomial): no assumption on
    the shape, so a bimodal distribution gets an honest, not a Gaussian, interval.
    """
    b = np.sort(np.asarray(values, dtype=float))
    k = len(b)
    med = float(np.median(b))
    if k < 2:
        return med, math.inf
    lo = max(0, int(math.floor(k / 2 - 0.98 * math.sqrt(k))))
    hi = min(k - 1, int(math.ceil(k / 2 + 0.98 * math.sqrt(k))) - 1)
    return med, float(b[hi] - b[lo]) / 2


def measure(fn: Callable[[], Any], timer: Any | None = None, budget: Budget = FULL,
            clock: Callable[[], float] = time.perf_counter, monitor: Any | None = None) -> Timing:
    """Warm `fn` up, then time it in blocks until the median of block medians is stable or a cap hits.

    `monitor` (start()/stop() -> Busy) watches the timed blocks, not the warm-up.
    """
    timer = timer or CPUTimer()
    start = clock()  # warm-up: caches, allocator, cudnn autotuning, lazy compilation
    warm: list[float] = []
    while True:
        warm.extend(timer.time_calls(fn, 1))
        elapsed = clock() - start
        if len(warm) >= budget.warmup_iters and elapsed >= budget.warmup_s:
            break
        if elapsed >= budget.warmup_cap_s:
            break
    warmup_s = clock() - start
    per_call_s = max(min(warm[-max(1, len(warm) // 2):]) / 1e3, 1e-6)

    if monitor is not None:
        monitor.start()
    samples: list[float] = []
    block_medians: list[float] = []
    previous: float | None = None
    stopped_by = "time_cap"
    spread = math.inf
    while True:
        timed_s = sum(samples) / 1e3
        room = budget.max_s - timed_s
        size = max(1, int(budget.block_s / per_call_s))
        if len(samples) >= budget.min_iters_floor:
            size = min(size, max(1, int(room / per_call_s)))
        size = min(size, max(1, budget.max_iters - len(samples)))
        block = timer.time_calls(fn, size)
        samples.extend(block)
        block_medians.append(float(np.median(block)))
        timed_s = sum(samples) / 1e3
        statistic, spread = median_interval(block_medians)
        per_call_s = max(float(np.median(block)) / 1e3, 1e-6)
        if len(samples) >= budget.min_iters_floor:
            moved = abs(statistic - previous) / statistic if previous and statistic > 0 else math.inf
            if (timed_s >= budget.min_s and len(samples) >= budget.min_iters and len(block_medians) >= budget.min_blocks
                    and statistic > 0 and spread / statistic <= budget.rel_tol and moved <= budget.median_tol):
                stopped_by = "converged"
                break
            if timed_s >= budget.max_s:
                break
            if len(samples) >= budget.max_iters:
                stopped_by = "max_iters"
                break
        previous = statistic
    busy = monitor.stop() if monitor is not None else None
    _med, p10, p90, cv = summarize(samples)
    statistic, spread = median_interval(block_medians)
    if not math.isfinite(spread):
        spread = (p90 - p10) / 2
    return Timing(statistic, p10, p90, cv, len(samples), sum(samples) / 1e3, len(warm), stopped_by,
                  spread, len(block_medians), warmup_s, samples, busy)


def measure_call(fn: Callable[[], Any], threads: int, budget: Budget = FULL, gpu_index: int | None = None,
                 timer: Any | None = None) -> Timing:
    """The one way hoot times a callable (a bench setting, an optimize variant, a bake-off candidate):
    `measure` with a BusyMonitor on the timed blocks, so the figure says how busy the machine was.

    `fn` must finish its work before it returns (a numpy result, a synchronised device); `timer`
    defaults to the wall clock (CUDATimer brackets each call with CUDA events instead).
    """
    from hoot.bench.contention import BusyMonitor

    return measure(fn, timer or CPUTimer(), budget, monitor=BusyMonitor(threads, gpu_index))
