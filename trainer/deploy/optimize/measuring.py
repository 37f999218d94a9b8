"""One timing rule for every variant, so rows compare: fixed threads (recorded), warm-up, then
timed blocks; the median over blocks with its 10th-90th percentile spread, never one run.

A variant is measured through a `Predict` callable (float32 NCHW numpy in, logits out), the
shape every runtime can take, so eager PyTorch, compiled PyTorch and ONNX Runtime pay the
same (tiny) conversion costs.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

Predict = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class TimingRule:
    """Warm-up seconds, then `blocks` timed blocks of about `block_s` each (at least one call per block)."""

    warmup_s: float = 1.0
    blocks: int = 11
    block_s: float = 0.25
    min_warmup_calls: int = 3


QUICK_RULE = TimingRule(warmup_s=0.1, blocks=5, block_s=0.02, min_warmup_calls=2)


@dataclass(frozen=True)
class Timing:
    median_ms: float
    p10_ms: float
    p90_ms: float
    calls: int
    blocks: int

    @property
    def spread_pct(self) -> float:
        return 100.0 * (self.p90_ms - self.p10_ms) / self.median_ms if self.median_ms else 0.0


def time_predict(predict: Predict, x: np.ndarray, rule: TimingRule = TimingRule(), sync: Callable[[], None] | None = None) -> Timing:
    """Per-call milliseconds of `predict(x)`: warm-up, calls per block sized from the warm-up, then blocks."""
    sync = sync or (lambda: None)
    start, n = time.perf_counter(), 0
    while n < rule.min_warmup_calls or time.perf_counter() - start < rule.warmup_s:
        predict(x)
        n += 1
    sync()
    per_call = (time.perf_counter() - start) / n
    calls = max(1, int(rule.block_s / max(per_call, 1e-6)))
    samples = []
    for _ in range(rule.blocks):
        t0 = time.perf_counter()
        for _ in range(calls):
            predict(x)
        sync()
        samples.append((time.perf_counter() - t0) * 1000.0 / calls)
    arr = np.asarray(samples)
    return Timing(float(np.median(arr)), float(np.percentile(arr, 10)), float(np.percentile(arr, 90)),
                  calls * rule.blocks, rule.blocks)


class PeakRss:
    """Peak resident memory above the level at entry, sampled every few ms (CPU variants share one process,
    so this is the memory a variant added while it was built and run, not an isolated process's peak)."""

    def __init__(self, interval_s: float = 0.005) -> None:
        import psutil

        self._proc, self.interval_s = psutil.Process(), interval_s
        self.base = self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            self._stop.wait(self.interval_s)

    def __enter__(self) -> "PeakRss":
        self.base = self.peak = self._proc.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)

    @property
    def added_mb(self) -> float:
        return max(0, self.peak - self.base) / 2**20


def held_out_score(predict: Predict, images: np.ndarray, targets: np.ndarray, evaluator, metric: str,
                   batch_size: int = 32, transform: Callable[[np.ndarray], np.ndarray] | None = None) -> float:
    """The task's `metric` (e.g. val_top1, val_miou) of `predict` over `images` and their cached `targets`,
    fed to the task's `evaluator` in batches of exactly `batch_size` (the last one padded, so a compiled
    variant sees one shape; the padding is not scored), each passed through `transform` (uint8 ->
    normalised float32)."""
    import torch

    for i in range(0, len(images), batch_size):
        chunk = np.asarray(images[i:i + batch_size])
        n = len(chunk)
        if n < batch_size:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], batch_size - n, axis=0)])
        x = transform(chunk) if transform else chunk
        outputs = np.asarray(predict(np.ascontiguousarray(x, dtype=np.float32)))[:n]
        evaluator.update(torch.from_numpy(np.ascontiguousarray(outputs)), torch.from_numpy(np.asarray(targets[i:i + n])))
    return float(evaluator.compute().metrics[metric])
