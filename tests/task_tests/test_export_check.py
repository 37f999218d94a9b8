"""How an exported file's output is compared with PyTorch's (Task.check_export): score maps by value
and best class; detections as detections, so near-ties at the score floor or the per-image cap (which
reorder between runtimes) neither fail a good export nor hide a bad one."""

from __future__ import annotations

import numpy as np
import pytest

from hoot.trainer.tasks import get_task
from hoot.trainer.tasks.base import ExportMismatch


class _Capped:
    """What check_export reads of a detector: its per-image cap (torchvision's detections_per_img)."""

    def __init__(self, max_detections: int = 100) -> None:
        self.max_detections = max_detections


MODEL = _Capped()


def _rows(*rows):
    return np.array(rows, dtype=np.float32).reshape(-1, 6)


def test_logits_within_tolerance_pass_and_a_flipped_class_fails():
    task = get_task("classification")
    expected = np.array([[2.0, 1.0, 0.5], [0.1, 0.3, 0.2]], np.float32)
    out = task.check_export(MODEL, expected + 1e-5, expected, atol=1e-3)
    assert out["max_abs_diff"] == pytest.approx(1e-5, rel=0.1)
    with pytest.raises(ExportMismatch, match=r"2 predicted class\(es\) differ"):
        task.check_export(MODEL, expected[:, [1, 0, 2]], expected, atol=1.0)  # small diffs, but another best class
    with pytest.raises(ExportMismatch, match=r"gives output \(2, 2\)"):
        task.check_export(MODEL, expected[:, :2], expected, atol=1e-3)


def test_detections_match_when_the_confident_boxes_do():
    task = get_task("detection")
    expected = _rows([10, 10, 30, 30, 0.90, 0], [40, 40, 60, 60, 0.60, 2], [5, 5, 9, 9, 0.055, 1], [6, 6, 9, 9, 0.052, 1])
    got = _rows([10.01, 10, 30, 30.02, 0.899, 0], [40, 40, 60, 60, 0.601, 2])  # the near-floor ties fell the other way
    out = task.check_export(MODEL, got, expected, atol=1e-3)
    assert out["boxes_compared"] == 2 and out["min_iou"] > 0.99 and out["max_score_diff"] <= 0.002


def test_a_cap_filled_in_one_output_raises_the_floor():
    """PyTorch filled its 3-box cap at 0.30 (a near-tie at the cut); the export kept a 0.29 box in its
    place: only boxes above 0.31 compare."""
    task = get_task("detection")
    expected = _rows([0, 0, 10, 10, 0.9, 0], [20, 20, 30, 30, 0.5, 1], [40, 40, 50, 50, 0.30, 1])
    got = _rows([0, 0, 10, 10, 0.9, 0], [20, 20, 30, 30, 0.5, 1], [3, 3, 8, 8, 0.29, 2])
    out = task.check_export(_Capped(3), got, expected, atol=1e-3)
    assert out["boxes_compared"] == 2 and out["score_floor"] == pytest.approx(0.31, abs=1e-4)


@pytest.mark.parametrize("got, message", [
    (_rows([10, 10, 30, 30, 0.90, 0]), "the export lacks a box of class 2"),  # a confident box lost
    (_rows([10, 10, 30, 30, 0.90, 0], [40, 40, 60, 60, 0.60, 1]), "lacks a box of class 2"),  # its class changed
    (_rows([10, 10, 30, 30, 0.90, 0], [40, 40, 60, 60, 0.70, 2]), "lacks a box of class 2"),  # its score moved 0.1
    (_rows([10, 10, 30, 30, 0.90, 0], [40, 40, 60, 60, 0.60, 2], [70, 70, 90, 90, 0.8, 1]), "the export adds a box of class 1"),
    (np.zeros((2, 5), np.float32), r"gives output \(2, 5\)"),
])
def test_detections_that_differ_fail(got, message):
    expected = _rows([10, 10, 30, 30, 0.90, 0], [40, 40, 60, 60, 0.60, 2])
    with pytest.raises(ExportMismatch, match=message):
        get_task("detection").check_export(MODEL, got, expected, atol=1e-3)


def test_no_confident_box_says_only_the_form_was_checked():
    out = get_task("detection").check_export(MODEL, _rows(), _rows(), atol=1e-3)
    assert out["boxes_compared"] == 0 and "only the output's form was checked" in out["note"]


def test_tied_boxes_are_left_out_not_failed():
    """An untrained detector scores many boxes exactly alike; NMS then keeps either twin, and which one
    is the runtime's choice: those rows are left out (and counted), the rest still compare."""
    task = get_task("detection")
    expected = _rows([0, 0, 10, 10, 0.25, 0], [5, 0, 15, 10, 0.25, 0], [40, 40, 60, 60, 0.60, 2])
    got = _rows([20, 20, 30, 30, 0.25, 0], [25, 20, 35, 30, 0.25, 0], [40, 40, 60, 60, 0.60, 2])
    out = task.check_export(MODEL, got, expected, atol=1e-3)
    assert out["boxes_compared"] == 1 and out["tied_boxes_left_out"] == 2
    only_ties = task.check_export(MODEL, got[:2], expected[:2], atol=1e-3)
    assert only_ties["boxes_compared"] == 0 and "only the output's form was checked" in only_ties["note"]
