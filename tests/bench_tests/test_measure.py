"""The timing loop's statistics and stopping rule (fake timer and clock), and a real tiny model."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from hoot.bench.measure import (FULL, QUICK, Budget, CPUTimer, CUDATimer, budget_for, measure, median_interval,
                                summarize)


class ScriptedTimer:
    """Returns iteration times from a script; advances a fake clock by the same amounts."""

    def __init__(self, times_ms):
        self.times = itertools.cycle(times_ms)
        self.now = 0.0
        self.calls = 0

    def time_calls(self, fn, n):
        out = []
        for _ in range(n):
            fn()
            t = next(self.times)
            self.now += t / 1e3
            out.append(t)
        self.calls += n
        return out

    def clock(self):
        return self.now


def test_summarize_known_samples():
    med, p10, p90, cv = summarize([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0])
    assert med == 6.0 and p10 == pytest.approx(2.0) and p90 == pytest.approx(10.0)
    assert cv == pytest.approx(3.3166 / 6.0, rel=1e-3)


def test_steady_timings_stop_as_stable_after_the_minimum_time():
    timer = ScriptedTimer([10.0, 10.1, 9.9, 10.0])
    t = measure(lambda: None, timer, FULL, clock=timer.clock)
    assert t.stopped_by == "converged"  # records.STOPPED_BY's name for "the spread settled"
    assert t.median_ms == pytest.approx(10.0, abs=0.1)
    assert t.timed_s >= FULL.min_s and t.iterations >= FULL.min_iters
    assert t.timed_s < FULL.max_s
    assert t.warmup_iters >= FULL.warmup_iters
    assert t.p10_ms <= t.median_ms <= t.p90_ms


def test_noisy_timings_run_to_the_time_cap():
    timer = ScriptedTimer([5.0, 20.0, 7.0, 30.0, 6.0])  # IQR / median far above 0.1
    budget = Budget(min_s=0.2, max_s=0.5, warmup_s=0.0, warmup_iters=1)
    t = measure(lambda: None, timer, budget, clock=timer.clock)
    assert t.stopped_by == "time_cap"
    assert 0.5 <= t.timed_s < 0.6
    assert t.cv > 0.5


def test_slow_model_still_gets_three_samples():
    timer = ScriptedTimer([3000.0])  # 3 s per call, quick cap is 1 s
    t = measure(lambda: None, timer, QUICK, clock=timer.clock)
    assert t.iterations == QUICK.min_iters_floor == 3
    assert t.warmup_iters == 1


def test_real_tiny_model_on_cpu():
    torch.set_num_threads(1)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()).eval()
    x = torch.randn(1, 3, 16, 16)
    with torch.inference_mode():
        t = measure(lambda: model(x), CPUTimer(), Budget(min_s=0.05, max_s=0.3, warmup_s=0.01, min_iters=5))
    assert t.iterations >= 5 and 0 < t.p10_ms <= t.median_ms <= t.p90_ms
    assert len(t.samples_ms) == t.iterations


class FakeEvent:
    clock = 0.0

    def __init__(self, enable_timing=False):
        assert enable_timing
        self.t = None
        self.synced = False

    def record(self):
        FakeEvent.clock += 1.5
        self.t = FakeEvent.clock

    def synchronize(self):
        self.synced = True

    def elapsed_time(self, other):
        assert other.synced, "elapsed_time read before the end event was synchronised"
        return other.t - self.t


class FakeTorch:
    class cuda:  # noqa: N801 - mimics torch.cuda
        Event = FakeEvent


def test_cuda_timer_uses_events_and_synchronises_each_call():
    calls = []
    out = CUDATimer(FakeTorch).time_calls(lambda: calls.append(1), 4)
    assert out == [1.5] * 4 and len(calls) == 4


class RandomTimer(ScriptedTimer):
    """Each call draws its time from `draw(rng)`; the fake clock advances by it."""

    def __init__(self, draw, seed=0):
        import random

        self.rng = random.Random(seed)
        self.draw = draw
        self.now = 0.0
        self.calls = 0
        self.times = iter(lambda: self.draw(self.rng), None)


def test_bimodal_launch_jitter_converges_on_the_median_of_block_medians():
    # a launch-bound GPU call: one call in three takes twice as long (3.7 ms vs 7.5 ms)
    timer = RandomTimer(lambda r: 7.5 if r.random() < 1 / 3 else 3.7 + r.random() * 0.05)
    budget = budget_for("cuda", quick=False)
    t = measure(lambda: None, timer, budget, clock=timer.clock)
    assert t.stopped_by == "converged" and t.converged
    assert t.timed_s < budget.max_s  # settled before the cap
    assert t.median_ms == pytest.approx(3.72, abs=0.05)  # the fast mode, where most calls are
    assert t.spread_ms / t.median_ms <= budget.rel_tol and t.blocks >= budget.min_blocks
    assert t.p90_ms == pytest.approx(7.5)  # the slow mode still shows in the spread
    # the old rule (IQR / median <= 0.1 over single calls) could never fire on these samples
    q1, q3 = np.percentile(t.samples_ms, [25, 75])
    assert (q3 - q1) / np.median(t.samples_ms) > 0.1


def test_noisy_timer_hits_the_cap_and_says_so():
    timer = RandomTimer(lambda r: r.lognormvariate(3.0, 1.0))  # ~20 ms, wildly spread, one call per block
    t = measure(lambda: None, timer, QUICK, clock=timer.clock)
    assert t.stopped_by == "time_cap" and not t.converged
    assert QUICK.max_s <= t.timed_s
    assert t.spread_ms / t.median_ms > QUICK.rel_tol


def test_iteration_cap_for_microsecond_calls():
    timer = ScriptedTimer([0.001, 0.05])
    t = measure(lambda: None, timer, Budget(max_iters=500, warmup_s=0.0, rel_tol=0.0, median_tol=0.0), clock=timer.clock)
    assert t.stopped_by == "max_iters" and t.iterations == 500


def test_budgets_by_device():
    assert budget_for("cpu", False) is FULL and budget_for("cpu", True) is QUICK
    assert budget_for("cuda", False).max_s == 2.0 and budget_for("cuda", True).max_s == 0.5


def test_median_interval_is_distribution_free():
    med, half = median_interval([1.0] * 9 + [100.0] * 2)
    assert med == 1.0 and half == 0.0  # outliers outside the interval's ranks do not widen it
    assert median_interval([5.0])[1] == float("inf")
