"""COCO box metrics in the field's words, from torchmetrics' MeanAveragePrecision (the
faster-coco-eval backend, pycocotools where it is missing): mAP@[.5:.95] (`map50_95`, what
the bake-off ranks on), mAP@.5 (`map50`) and AP per class. Higher is better."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from hoot.trainer.tasks.detection_augment import BoxTarget

METRIC_NAME = "map50_95"
HIGHER_IS_BETTER = True


@dataclass
class DetectionScores:
    """COCO mAP figures (0-1); per-class AP is None for a class absent from the images scored."""

    map50_95: float
    map50: float
    per_class_ap: dict[str, float | None] = field(default_factory=dict)
    images: int = 0

    def as_dict(self) -> dict:
        return {"map50_95": self.map50_95, "map50": self.map50, "per_class_ap": dict(self.per_class_ap),
                "images": self.images}


def _backend() -> str:
    try:
        import faster_coco_eval  # noqa: F401
        return "faster_coco_eval"
    except ImportError:
        return "pycocotools"


class BoxMetric:
    """Accumulates predictions against ground truth over batches; `compute` gives DetectionScores.
    Both sides use hoot's class indices 0..K-1 and boxes in the same pixels."""

    def __init__(self, classes: list[str]) -> None:
        from torchmetrics.detection import MeanAveragePrecision

        self.classes = list(classes)
        self._metric = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", class_metrics=True, backend=_backend())
        self._metric.warn_on_many_detections = False  # COCO's rule: the 100 best boxes per image count
        self._images = 0

    def update(self, predictions: list[BoxTarget], scores: list[torch.Tensor], truth: list[BoxTarget]) -> None:
        preds = [{"boxes": p.boxes.detach().float().cpu(), "labels": p.labels.detach().cpu(), "scores": s.detach().float().cpu()}
                 for p, s in zip(predictions, scores)]
        target = [{"boxes": t.boxes.detach().float().cpu(), "labels": t.labels.detach().cpu()} for t in truth]
        self._metric.update(preds, target)
        self._images += len(truth)

    def compute(self) -> DetectionScores:
        out = self._metric.compute()
        per_class: dict[str, float | None] = {name: None for name in self.classes}
        ids = out["classes"].reshape(-1).tolist()
        values = out["map_per_class"].reshape(-1).tolist()
        for cid, ap in zip(ids, values):
            if 0 <= int(cid) < len(self.classes):
                per_class[self.classes[int(cid)]] = None if ap < 0 or math.isnan(ap) else float(ap)
        return DetectionScores(_figure(out["map"]), _figure(out["map_50"]), per_class, self._images)


def _figure(value: torch.Tensor) -> float:
    """torchmetrics writes -1 where nothing could be scored (no ground-truth boxes): that is 0 found."""
    v = float(value)
    return 0.0 if v < 0 or math.isnan(v) else v
