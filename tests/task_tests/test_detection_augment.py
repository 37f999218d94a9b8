"""Boxes move with the image: flip and scale jitter checked against the drawn object's pixels,
seeded draws repeat, and the COCO metric scores a perfect and a wrong answer as it should."""

from __future__ import annotations

import pytest
import torch

from hoot.trainer.tasks.detection_augment import BoxTarget, augment, flip_horizontal, scale_boxes, scale_jitter
from hoot.trainer.tasks.detection_metrics import BoxMetric


def _one_object(px=64, box=(8, 20, 24, 40)):
    """A batch of one image: a white rectangle exactly at `box` (xyxy, exclusive ends)."""
    images = torch.zeros(1, 3, px, px)
    x1, y1, x2, y2 = box
    images[..., y1:y2, x1:x2] = 1.0
    return images, [BoxTarget(torch.tensor([box], dtype=torch.float32), torch.tensor([1]))]


def _pixel_box(image: torch.Tensor) -> list[float]:
    ys, xs = torch.nonzero(image[0] > 0.5, as_tuple=True)
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]


def test_flip_moves_the_box_with_the_pixels():
    images, targets = _one_object()
    flipped, out = flip_horizontal(images, targets, torch.tensor([True]))
    assert out[0].boxes[0].tolist() == _pixel_box(flipped[0]) == [40.0, 20.0, 56.0, 40.0]
    same, kept = flip_horizontal(images, targets, torch.tensor([False]))
    assert torch.equal(same, images) and kept[0].boxes.tolist() == targets[0].boxes.tolist()


@pytest.mark.parametrize("scale, offset", [(0.5, (0.0, 0.0)), (0.75, (1.0, 0.5)), (1.5, (0.3, 0.6))])
def test_scale_jitter_moves_the_box_with_the_pixels(scale, offset):
    images, targets = _one_object()
    out_images, out = scale_jitter(images, targets, scale, offset)
    assert out_images.shape == images.shape
    assert out[0].boxes[0].tolist() == pytest.approx(_pixel_box(out_images[0]), abs=1.01)


def test_scale_jitter_drops_boxes_cropped_away():
    images, targets = _one_object(box=(0, 0, 6, 6))
    _, out = scale_jitter(images, targets, 2.0, (1.0, 1.0))  # the window is the bottom-right corner
    assert len(out[0].boxes) == 0 and len(out[0].labels) == 0


def test_augment_is_seeded():
    images, targets = _one_object()
    a = augment(images, targets, torch.Generator().manual_seed(5))
    b = augment(images, targets, torch.Generator().manual_seed(5))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1][0].boxes, b[1][0].boxes)


def test_scale_boxes_to_the_cached_size():
    b = scale_boxes(torch.tensor([[10.0, 20.0, 30.0, 40.0]]), (100, 200), (50, 50))
    assert b.tolist() == [[5.0, 5.0, 15.0, 10.0]]


def test_box_metric_perfect_wrong_and_per_class():
    truth = [BoxTarget(torch.tensor([[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 40.0, 40.0]]), torch.tensor([0, 1]))]
    perfect = BoxMetric(["a", "b", "c"])
    perfect.update(truth, [torch.tensor([0.9, 0.8])], truth)
    s = perfect.compute()
    assert s.map50_95 == pytest.approx(1.0) and s.map50 == pytest.approx(1.0)
    assert s.per_class_ap["a"] == pytest.approx(1.0) and s.per_class_ap["c"] is None
    wrong = BoxMetric(["a", "b", "c"])
    wrong.update([BoxTarget(torch.tensor([[50.0, 50.0, 60.0, 60.0]]), torch.tensor([0]))], [torch.tensor([0.9])], truth)
    assert wrong.compute().map50_95 == 0.0
    half = BoxMetric(["a", "b", "c"])  # right place, IoU 0.83: counts at .5, not at the strict thresholds
    half.update([BoxTarget(torch.tensor([[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 40.0, 36.5]]), torch.tensor([0, 1]))],
                [torch.tensor([0.9, 0.8])], truth)
    h = half.compute()
    assert h.map50 == pytest.approx(1.0) and 0.5 < h.map50_95 < 1.0
