"""Quantisation-aware training's fine-tune (trainer/deploy/optimize/qat.py): it trains with the run's loss, keeps
the epoch best on validation (epoch 0 being the calibrated quantisers), keeps BatchNorm frozen, and stops on a
loss that is not finite; the variants skip with a reason where a task cannot train its exported graph; the
report names QAT where post-training INT8 lost more than a point."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from hoot.trainer.data.cache import SplitCache
from hoot.trainer.data.pipeline import Normalizer
from hoot.trainer.deploy.optimize.ondevice_variants import ONDEVICE_BUILDERS
from hoot.trainer.deploy.optimize.qat import QatFinetune, QatOptions
from hoot.trainer.deploy.optimize.report import summary_lines
from hoot.trainer.deploy.optimize.variants import ONDEVICE_QAT, BuildContext, Skip
from hoot.trainer.tasks import get_task
from hoot.trainer.tasks.base import LossOptions


def _split(n: int = 24, seed: int = 0) -> SplitCache:
    rng = np.random.default_rng(seed)
    return SplitCache(rng.integers(0, 256, (n, 3, 8, 8), dtype=np.uint8), rng.integers(0, 3, n).astype(np.int64))


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, 3)).eval()


def _finetune(scores, epochs: int = 3, lr: float = 0.05) -> tuple[QatFinetune, list]:
    """A fine-tune whose validation score is scripted (`scores`, one per call; None: no validation split), and
    the weights it held at each call."""
    task = get_task("classification")
    seen: list = []
    values = iter(scores or [])

    def score_validation(predict) -> float:
        seen.append(predict(np.zeros((2, 3, 8, 8), np.float32)).copy())
        return next(values)

    return QatFinetune(task, _split(), task.criterion(LossOptions()), Normalizer(), None if scores is None else score_validation,
                       QatOptions(epochs=epochs, lr=lr, batch_size=8)), seen


def test_the_epoch_best_on_validation_is_kept() -> None:
    finetune, seen = _finetune([0.50, 0.90, 0.70, 0.80])
    net = _net()
    before = net(torch.zeros(2, 3, 8, 8)).detach()
    finetune(net)
    rec = finetune.record
    assert rec["validation_by_epoch"] == [0.5, 0.9, 0.7, 0.8] and rec["kept_epoch"] == 1
    assert rec["steps"] == 9 and rec["train_images"] == 24 and rec["lr"] == 0.05  # 3 epochs of 3 batches of 8
    np.testing.assert_allclose(net(torch.zeros(2, 3, 8, 8)).detach().numpy(), seen[1], rtol=1e-6)  # epoch 1's weights
    assert not np.allclose(seen[1], before.numpy())  # and it trained


def test_epoch_zero_is_kept_when_training_never_beats_it() -> None:
    finetune, seen = _finetune([0.9, 0.8, 0.8, 0.7])
    net = _net()
    finetune(net)
    assert finetune.record["kept_epoch"] == 0
    np.testing.assert_allclose(net(torch.zeros(2, 3, 8, 8)).detach().numpy(), seen[0], rtol=1e-6)


def test_without_validation_the_last_epoch_is_kept_and_batchnorm_stays_frozen() -> None:
    finetune, _ = _finetune(None, epochs=2)
    net = _net()
    bn = net[1]
    stats = (bn.running_mean.clone(), bn.running_var.clone())
    finetune(net)
    assert finetune.record["kept_epoch"] == 2 and finetune.record["validation_by_epoch"] == [None, None, None]
    assert torch.equal(bn.running_mean, stats[0]) and torch.equal(bn.running_var, stats[1]) and not net.training


def test_a_loss_that_is_not_finite_stops_with_the_fix() -> None:
    finetune, _ = _finetune(None, epochs=1, lr=1e30)
    net = _net()
    with torch.no_grad():
        net[-1].weight.fill_(1e38)
    with pytest.raises(FloatingPointError, match="--qat-lr"):
        finetune(net)


@pytest.mark.parametrize("variant", ONDEVICE_QAT)
def test_a_detector_has_no_qat_row_and_says_why(variant, monkeypatch) -> None:
    from hoot.bench.ondevice import RUNTIMES

    runtime = RUNTIMES[variant.removesuffix("-int8-qat")]
    monkeypatch.setattr(type(runtime), "unavailable_reason", lambda self: None)
    ctx = BuildContext(_net(), None, 8, np.zeros((1, 3, 8, 8), np.float32), 1, torch.device("cpu"),
                       task=get_task("detection"), qat=lambda: pytest.fail("a detector must not train"))
    with pytest.raises(Skip, match="training losses.*post-training INT8 row"):
        ONDEVICE_BUILDERS[variant](ctx)


def test_the_report_names_qat_where_post_training_int8_lost_more_than_a_point() -> None:
    rows = [{"variant": "eager", "status": "ok", "runtime": "pytorch", "precision": "fp32", "latency_ms": 9.0,
             "score_delta_pts": 0.0},
            {"variant": "openvino-int8", "status": "ok", "runtime": "openvino", "precision": "int8", "latency_ms": 2.0,
             "score_delta_pts": -2.46},
            {"variant": "litert-int8", "status": "ok", "runtime": "litert", "precision": "int8", "latency_ms": 2.0,
             "score_delta_pts": -0.5}]
    doc = {"variant_name": "m", "run_dir": "/r", "timing_px": 32, "threads": 1, "held_out": "test", "held_out_images": 9,
           "image_size": 32, "calibration_images": 4, "rows": rows}
    hints = [line for line in summary_lines(doc) if "-qat" in line]
    assert hints == ["openvino-int8 lost 2.46 points on the held-out split: `--variants openvino-int8-qat` trains it "
                     "quantisation-aware (a few epochs on the training split)."]
    rows.append({"variant": "openvino-int8-qat", "status": "ok", "runtime": "openvino", "precision": "int8",
                 "latency_ms": 2.0, "score_delta_pts": -0.2})
    assert not [line for line in summary_lines(doc) if "`--variants" in line]  # already run: no hint
