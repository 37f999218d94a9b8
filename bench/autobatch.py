"""Automatic batch size: the largest training batch that fits a GPU memory budget.

seeds/000_46be6743a230da89.txt ("Memory Optimization") picks the training batch from a
target memory usage and a safety margin. Here the budget is
`total GPU memory x target_fraction x (1 - safety_margin)`, and a batch fits when one
real training step (forward, backward, optimizer step) runs without running out of
memory and its peak reserved memory stays under the budget. Real allocations, not a
formula: activations, workspace and allocator fragmentation all count. The search
doubles until a batch fails, then bisects between the last fit and the first failure;
an out-of-memory error is caught, memory is released, and the search goes on.
`hoot bench --train` bounds the search (issue 9: 38-158 s per model on an H100 before):
a time budget (~10 s) and a few bisection steps, so the answer is the largest batch found
in that time, within 1/2**max_bisect of the true one; the seconds spent are recorded.
The trainer reuses `auto_batch_size` with its own step function.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field
from typing import Any, Callable

MB = 2**20
TARGET_FRACTION = 0.85
SAFETY_MARGIN = 0.10


def is_oom(exc: BaseException) -> bool:
    """Is this exception an out-of-memory error (torch's class, or cuDNN/cuBLAS's message)?"""
    try:
        import torch

        oom_types: tuple[type, ...] = tuple(
            t for t in (getattr(torch, "OutOfMemoryError", None), getattr(torch.cuda, "OutOfMemoryError", None)) if t
        )
    except ImportError:  # pragma: no cover
        oom_types = ()
    if oom_types and isinstance(exc, oom_types):
        return True
    if isinstance(exc, MemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(
        s in text for s in ("out of memory", "cudnn_status_alloc_failed", "cublas_status_alloc_failed"))


@dataclass
class AutoBatch:
    """The search's answer and its evidence."""

    batch_size: int  # 0 when not even the smallest batch fits
    peak_mb: float | None  # peak reserved memory of one step at batch_size
    budget_mb: float
    tried: list[tuple[int, str, float | None]] = field(default_factory=list)  # (batch, fit|over|oom, peak MiB)
    search_s: float = 0.0  # seconds the search took
    stopped_by: str = "exact"  # exact | time_budget | max_bisect

    def as_dict(self) -> dict[str, Any]:
        return {"batch_size": self.batch_size, "peak_mb": self.peak_mb, "budget_mb": self.budget_mb,
                "tried": [list(t) for t in self.tried], "search_s": self.search_s, "stopped_by": self.stopped_by}


def search_batch_size(
    try_batch: Callable[[int], float],
    budget_bytes: float,
    max_batch: int = 1024,
    start: int = 1,
    release: Callable[[], None] = lambda: None,
    time_budget_s: float | None = None,
    max_bisect: int | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> AutoBatch:
    """Largest batch b <= max_batch with try_batch(b) (peak bytes) <= budget and no OOM.

    `try_batch` raises an out-of-memory error when the batch does not fit; `release` frees
    what a failed try left behind (caches, gradients). With `time_budget_s` no new try starts
    after that many seconds, and at most `max_bisect` bisection steps follow the doubling:
    the answer is then the largest batch known to fit.
    """
    started = clock()
    stopped_by = "exact"

    def out_of_time() -> bool:
        return time_budget_s is not None and clock() - started >= time_budget_s

    tried: list[tuple[int, str, float | None]] = []
    peaks: dict[int, float] = {}

    def fits(b: int) -> bool:
        try:
            peak = float(try_batch(b))
        except Exception as exc:  # noqa: BLE001 - only out-of-memory is expected; anything else is real
            if not is_oom(exc):
                raise
            del exc
            release()
            tried.append((b, "oom", None))
            return False
        release()
        ok = peak <= budget_bytes
        tried.append((b, "fit" if ok else "over", peak / MB))
        if ok:
            peaks[b] = peak
        return ok

    good, bad = 0, None
    b = max(1, start)
    while b <= max_batch:
        if good and out_of_time():
            stopped_by = "time_budget"
            break
        if fits(b):
            good = b
            b *= 2
        else:
            bad = b
            break
    if bad is None and stopped_by == "exact":  # every doubling fitted up to max_batch
        if good < max_batch and not fits(max_batch):
            bad = max_batch
        else:
            good, bad = max_batch, max_batch + 1
    steps = 0
    while bad is not None and bad - good > 1:
        if out_of_time():
            stopped_by = "time_budget"
            break
        if max_bisect is not None and steps >= max_bisect:
            stopped_by = "max_bisect"
            break
        steps += 1
        mid = (good + bad) // 2
        if fits(mid):
            good = mid
        else:
            bad = mid
    return AutoBatch(good, None if good == 0 else peaks.get(good, 0.0) / MB, budget_bytes / MB, tried,
                     round(clock() - started, 3), stopped_by)


def cuda_budget_bytes(torch_module: Any, device: Any, target_fraction: float = TARGET_FRACTION,
                      safety_margin: float = SAFETY_MARGIN) -> float:
    """total memory x target x (1 - margin), never more than what is free now plus what we hold."""
    total = torch_module.cuda.get_device_properties(device).total_memory
    free, _total = torch_module.cuda.mem_get_info(device)
    held = torch_module.cuda.memory_reserved(device)
    return min(total * target_fraction, free + held) * (1.0 - safety_margin)


def auto_batch_size(
    step: Callable[[int], Any],
    torch_module: Any,
    device: Any,
    target_fraction: float = TARGET_FRACTION,
    safety_margin: float = SAFETY_MARGIN,
    max_batch: int = 1024,
    cleanup: Callable[[], None] | None = None,
    time_budget_s: float | None = None,
    max_bisect: int | None = None,
) -> AutoBatch:
    """Largest training batch for `step(batch_size)` (one real training step) on CUDA `device`."""
    cuda = torch_module.cuda

    def release() -> None:
        if cleanup is not None:
            cleanup()
        gc.collect()
        cuda.empty_cache()

    def try_batch(b: int) -> float:
        release()
        cuda.reset_peak_memory_stats(device)
        step(b)
        cuda.synchronize(device)
        return float(cuda.max_memory_reserved(device))

    budget = cuda_budget_bytes(torch_module, device, target_fraction, safety_margin)
    return search_batch_size(try_batch, budget, max_batch=max_batch, release=release, time_budget_s=time_budget_s,
                             max_bisect=max_bisect)
