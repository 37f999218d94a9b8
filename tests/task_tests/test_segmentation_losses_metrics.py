"""Every `--loss` of segmentation (smp's, cross-entropy by default) and the metrics (torchmetrics'
confusion matrix: mIoU over present classes, per-class IoU, Dice, pixel accuracy)."""

from __future__ import annotations

import pytest
import torch

from hoot.trainer.tasks import get_task
from hoot.trainer.tasks.base import LossOptions

TASK = get_task("segmentation")


def _logits_for(mask: torch.Tensor, classes: int, scale: float) -> torch.Tensor:
    return torch.nn.functional.one_hot(mask.long().clamp(max=classes - 1), classes).permute(0, 3, 1, 2).float() * scale


@pytest.mark.parametrize("name", TASK.losses)
def test_each_loss_prefers_the_right_answer(name):
    g = torch.Generator().manual_seed(0)
    mask = torch.randint(0, 3, (2, 16, 16), generator=g).to(torch.uint8)
    loss = TASK.make_loss(LossOptions(name))
    right = loss(_logits_for(mask, 3, 8.0), mask)
    wrong = loss(_logits_for((mask + 1) % 3, 3, 8.0), mask)
    assert torch.isfinite(right) and torch.isfinite(wrong) and right < wrong


def test_loss_comes_from_smp_and_ce_is_the_default():
    from segmentation_models_pytorch.losses import DiceLoss, JaccardLoss

    assert isinstance(TASK.make_loss(LossOptions("dice")).loss, DiceLoss)
    assert isinstance(TASK.make_loss(LossOptions("jaccard")).loss, JaccardLoss)
    assert isinstance(TASK.make_loss(LossOptions()).loss, torch.nn.CrossEntropyLoss)


def test_ignore_index_pixels_do_not_count():
    mask = torch.zeros(1, 8, 8, dtype=torch.uint8)
    logits = _logits_for(mask, 2, 5.0)
    spoiled = mask.clone()
    spoiled[:, :4] = 255
    wrong = logits.clone()
    wrong[:, :, :4] = _logits_for(torch.ones(1, 4, 8, dtype=torch.uint8), 2, 5.0)  # wrong only where ignored
    ce = TASK.make_loss(LossOptions("ce"))
    assert float(ce(wrong, spoiled)) == pytest.approx(float(ce(logits, mask)), abs=1e-6)


def test_metrics_by_hand_and_against_torchmetrics():
    from torchmetrics.classification import MulticlassJaccardIndex

    target = torch.tensor([[[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 255, 255], [2, 2, 255, 255]]], dtype=torch.uint8)
    pred = torch.tensor([[[0, 1, 1, 1], [0, 0, 1, 1], [2, 0, 1, 0], [2, 2, 0, 0]]])
    logits = _logits_for(pred.to(torch.uint8), 4, 5.0)  # 4 outputs: class 3 absent from both
    ev = TASK.evaluator(4, TASK.make_loss(LossOptions()))
    ev.update(logits, target)
    result = ev.compute()
    # 12 counted pixels; class 0: tp 3, gt 4, pred 4 -> IoU 3/5; class 1: tp 4, gt 4, pred 5 -> 4/5; class 2: 3/4
    assert result.per_class["iou"][:3] == pytest.approx([3 / 5, 4 / 5, 3 / 4])
    assert result.per_class["iou"][3] is None  # absent everywhere: not averaged in
    assert result.metrics["val_miou"] == pytest.approx((3 / 5 + 4 / 5 + 3 / 4) / 3)
    assert result.metrics["val_pixel_accuracy"] == pytest.approx(10 / 12)
    assert result.per_class["dice"][0] == pytest.approx(2 * 3 / 8)
    jac = MulticlassJaccardIndex(3, average="macro", ignore_index=255)(pred.clamp(max=2), target.long())
    assert result.metrics["val_miou"] == pytest.approx(float(jac), abs=1e-6)


def test_model_heads_have_the_users_classes():
    model = TASK.build_model("lraspp_mobilenet_v3_large", 5, pretrained=False)
    out = model.eval()(torch.randn(1, 3, 32, 32))
    assert out.shape == (1, 5, 32, 32)  # `out` logits at the input size, one tensor
