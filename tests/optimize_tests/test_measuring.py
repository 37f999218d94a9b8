"""The timing rule, accuracy helper and comparison with the reference, on fakes (no model)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from hoot.trainer.deploy.optimize import accuracy
from hoot.bench.measure import Budget, measure_call
from hoot.trainer.deploy.optimize.scoring import top1
from hoot.trainer.deploy.optimize.run import VariantRow, compare_to_reference


def test_timing_is_per_call_with_a_spread():
    calls = []

    def predict(x):
        calls.append(1)
        time.sleep(0.002)
        return x

    # optimize times with bench's method (measure_call); a budget of exactly 5 blocks of ~20 ms
    budget = Budget(warmup_iters=2, warmup_s=0.02, min_iters=5, min_s=10.0, max_s=0.09, block_s=0.02, min_blocks=5)
    t = measure_call(lambda: predict(np.zeros(1)), threads=1, budget=budget)
    assert 1.8 <= t.median_ms < 30  # sleep(2 ms) is at least 2 ms; a loaded machine may add a lot
    assert t.p10_ms <= t.median_ms <= t.p90_ms and t.blocks >= 5 and t.iterations >= 5
    assert len(calls) >= t.iterations + 2


def test_top1_pads_the_last_batch_and_ignores_the_padding():
    labels = np.array([0, 1, 1, 0, 1])
    images = np.stack([np.full((1, 2, 2), v, dtype=np.uint8) for v in labels])
    shapes = []

    def predict(x):
        shapes.append(x.shape[0])
        v = x[:, 0, 0, 0]
        return np.stack([1 - v, v], axis=1)

    assert top1(predict, images, labels, batch_size=2) == 1.0
    assert shapes == [2, 2, 2]  # one shape for a compiled variant
    assert top1(predict, images, 1 - labels, batch_size=4) == 0.0


def test_comparison_with_the_reference():
    rows = [VariantRow("eager", "ok", latency_ms=10.0, score=0.90), VariantRow("int8", "ok", latency_ms=4.0, score=0.895),
            VariantRow("tensorrt", "skipped", reason="no GPU")]
    out = compare_to_reference(rows)
    assert out[1].speedup == 2.5 and out[1].score_delta_pts == pytest.approx(-0.5)
    assert out[2].speedup is None and out[2].reason == "no GPU"


def test_calibration_images_are_seeded_training_images():
    split = accuracy.Split(np.arange(20, dtype=np.uint8).reshape(20, 1, 1, 1), np.zeros(20), "train")
    a = accuracy.calibration_images(split, 5, seed=1)
    assert len(a) == 5 and len(np.unique(a)) == 5
    assert np.array_equal(a, accuracy.calibration_images(split, 5, seed=1))
    assert len(accuracy.calibration_images(split, 500, seed=1)) == 20
    with pytest.raises(Exception, match="at least 1"):
        accuracy.calibration_images(split, 0, seed=1)


def test_normalise_matches_the_checkpoint_mean_and_std():
    x = np.full((1, 3, 2, 2), 255, dtype=np.uint8)
    out = accuracy.normalise(x, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    assert out.dtype == np.float32 and np.allclose(out, 2.0)
