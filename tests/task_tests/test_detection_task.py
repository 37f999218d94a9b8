"""The detection Task: scan of both layouts through the interface, boxes cached in the images'
geometry, augmentation through the task, training on the detector's own losses, the evaluator's
mAP, predictions mapped back to source pixels, report pictures and the export's outputs.

Needs the tasks branch's trainer/tasks/base.py and registry (the interface)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hoot.advisor.errors import HootError
from hoot.testing.detection_data import make_coco, make_yolo
from hoot.trainer.data.cache import decode_resized
from hoot.trainer.tasks import detect_task, get_task
from hoot.trainer.tasks.base import LossOptions, PredictOptions, ScanOptions
from hoot.trainer.tasks.detection import DetectionTask, to_box_targets
from hoot.trainer.tasks.detection_models import BoxOutput


@pytest.fixture(scope="module")
def task() -> DetectionTask:
    return get_task("detection")


def test_auto_finds_coco_and_yolo(tmp_path):
    make_coco(tmp_path / "c", count=3)
    make_yolo(tmp_path / "y", count=3)
    assert detect_task(tmp_path / "c") == detect_task(tmp_path / "y") == "detection"


@pytest.mark.parametrize("maker", [make_coco, make_yolo])
def test_scan_splits_and_carries_boxes(tmp_path, task, maker):
    drawn = maker(tmp_path / "d", count=20, background_every=5)
    scan = task.scan(tmp_path / "d", ScanOptions(0.2, 0.2, seed=1))
    assert scan.task == "detection" and scan.classes == ["red_circle", "green_square", "blue_triangle"]
    samples = scan.train + scan.val + scan.test
    assert len(samples) == 20 and scan.val and scan.test
    by_name = {Path(s.path).name: s for s in samples}
    for d in drawn:
        s = by_name[d.file_name]
        assert [r[4] for r in s.target] == d.labels
        np.testing.assert_allclose([r[:4] for r in s.target] or np.zeros((0, 4)), np.array(d.boxes).reshape(-1, 4), atol=1e-3)
        assert s.label == tuple(sorted(set(d.labels)))
    assert any("background" in w for w in scan.warnings)


def test_cache_rows_follow_the_crop(tmp_path, task):
    from hoot.trainer.data.dataset import Sample

    # a 100x50 image cached at 25 px: scale 0.5, resized 50x25, left 12: x' = x * 0.5 - 12
    s = Sample("x.png", (0, 1), 100, 50, ((30.0, 10.0, 50.0, 30.0, 0), (0.0, 0.0, 10.0, 10.0, 1), (70.0, 0.0, 80.0, 50.0, 1)))  # kept, cut off, clipped
    rows = task.cache_targets([s, Sample("y.png", (), 100, 50, ())], 25, 2)
    assert rows.shape == (2, 2, 5) and rows.dtype == np.float32
    assert rows[0].tolist() == [[3.0, 5.0, 13.0, 15.0, 0.0], [25.0 - 2.0, 0.0, 25.0, 25.0, 1.0]]
    assert (rows[1, :, 4] == -1).all()


def test_augment_through_the_task_keeps_the_rows(task):
    targets = torch.tensor([[[4.0, 4.0, 20.0, 20.0, 1.0], [-1, -1, -1, -1, -1]]])
    x = torch.zeros(1, 3, 32, 32)
    x[..., 4:20, 4:20] = 1
    for seed in range(6):
        xa, ta = task.augment(x, targets, torch.Generator().manual_seed(seed))
        assert ta.shape == targets.shape
        (t,) = to_box_targets(ta)
        if len(t.labels):
            ys, xs = torch.nonzero(xa[0, 0] > 0.5, as_tuple=True)
            assert t.boxes[0].tolist() == pytest.approx([float(xs.min()), float(ys.min()), float(xs.max()) + 1, float(ys.max()) + 1], abs=1.01)


def _cached(tmp_path, task, count=12, size=64):
    make_coco(tmp_path / "d", count=count, size=size)
    scan = task.scan(tmp_path / "d", ScanOptions(0.2, 0.2, seed=0))
    samples = scan.train
    x = torch.from_numpy(np.stack([decode_resized(s.path, size) for s in samples])).float() / 255
    return scan, samples, x, torch.from_numpy(task.cache_targets(samples, size, len(scan.classes)))


def test_training_on_the_detectors_own_losses_lowers_it(tmp_path, task):
    torch.manual_seed(0)
    scan, _, x, targets = _cached(tmp_path, task)
    model = task.build_model("ssdlite320_mobilenet_v3_large", len(scan.classes), pretrained=False)
    loss_fn = task.make_loss(LossOptions())
    opt = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    model.train()
    first = None
    for _ in range(5):
        loss = task.training_loss(model, x[:4], targets[:4], loss_fn)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = float(loss.detach()) if first is None else first
    assert float(loss.detach()) < 0.7 * first
    fake = task.fake_targets(2, 64, 3, torch.device("cpu"))
    assert float(task.training_loss(model, x[:2], fake, loss_fn)) > 0


def test_unknown_loss_is_one_error(task):
    with pytest.raises(HootError, match="--loss 'dice' does not apply to detection"):
        task.make_loss(LossOptions(name="dice"))


def test_evaluator_scores_the_truth_as_perfect(task):
    targets = torch.tensor([[[4.0, 4.0, 20.0, 20.0, 1.0], [30.0, 30.0, 60.0, 50.0, 0.0]]])
    ev = task.evaluator(2, task.make_loss(LossOptions()))
    truth = to_box_targets(targets)[0]
    ev.update([BoxOutput(truth.boxes, truth.labels, torch.tensor([0.9, 0.8]))], targets)
    result = ev.compute()
    assert result.metrics["val_map50_95"] == pytest.approx(1.0) and result.metrics["val_map50"] == pytest.approx(1.0)
    assert math.isnan(result.metrics["val_loss"])  # stated: detectors give losses in train mode only
    assert task.test_metrics(result)["test_map50_95"] == pytest.approx(1.0)
    assert task.metric.name == "val_map50_95" and task.metric.better(0.5, 0.4)


class _Oracle(torch.nn.Module):
    """Answers one box at cache pixels (2, 3, 12, 13), class 1, score 0.9, and one weak box."""

    def forward(self, x):
        return [BoxOutput(torch.tensor([[2.0, 3.0, 12.0, 13.0], [0.0, 0.0, 5.0, 5.0]]), torch.tensor([1, 0]),
                          torch.tensor([0.9, 0.2])) for _ in range(len(x))]


def test_predict_maps_boxes_to_source_pixels(tmp_path, task):
    path = tmp_path / "wide.png"
    Image.new("RGB", (100, 50)).save(path)  # cached at 25 px: scale 0.5, left 12
    rows = task.predict(_Oracle(), torch.zeros(1, 3, 25, 25), [str(path)], ["a", "b"], PredictOptions(score_threshold=0.5))
    assert rows == [{"image": str(path), "rank": 1, "class": "b", "score": 0.9, "box": [28.0, 6.0, 48.0, 26.0]}]
    json.dumps(rows)  # printable as JSON


def test_report_pictures_and_export_outputs(tmp_path, task):
    scan, samples, x, targets = _cached(tmp_path, task, count=10)
    model = task.build_model("ssdlite320_mobilenet_v3_large", 3, pretrained=False)
    images = (x[:3] * 255).to(torch.uint8).numpy()
    ev = task.evaluator(3, task.make_loss(LossOptions()))
    with torch.no_grad():
        ev.update(model(x[:3]), targets[:3])
    pictures = task.report_pictures(model, images, targets[:3].numpy(), x[:3], scan.classes, ev.compute().as_dict(),
                                    tmp_path / "r")
    assert pictures and all(p.path.is_file() and p.path.stat().st_size > 1000 for p in pictures)
    rows = task.export_outputs(model, x[:2])
    assert rows.ndim == 2 and rows.shape[1] == 6 and task.export_names.outputs == ("detections",)
