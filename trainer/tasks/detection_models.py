"""Detectors for the user's classes: torchvision's builders through the one model builder
(hoot.bench.models.build_model), from scratch or from COCO weights with the head replaced.

Class indices: hoot's classes are 0..K-1; torchvision's detectors reserve label 0 for the
background (Faster R-CNN, SSD) or at least accept it unused (RetinaNet, FCOS), so every
detector is built with K + 1 classes and hoot adds 1 to a label on the way in
(`to_model_labels`) and takes 1 off on the way out. Every provided COCO detector has full
COCO weights, so "ImageNet backbone only" never applies to a catalog detection entry.

The input size is the model's own transform's: it resizes every image (min_size/max_size,
or a fixed size for SSD); `set_input_size` makes it run at the run's image size, so the
bake-off's candidates all see the same pixels, except where a detector cannot run that small
(SSD300's VGG extra layers need 300 px), which `set_input_size` says.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hoot.advisor.catalog import Catalog, load_catalog
from hoot.advisor.errors import HootError
from hoot.bench.models import build_model

#: catalog detectors hoot cannot train from boxes alone, and why
NOT_TRAINABLE = {
    "maskrcnn_resnet50_fpn": "Mask R-CNN trains on instance masks, and COCO/YOLO boxes carry none; use fasterrcnn_resnet50_fpn (the same detector without the mask head)",
    "maskrcnn_resnet50_fpn_v2": "Mask R-CNN trains on instance masks, and COCO/YOLO boxes carry none; use fasterrcnn_resnet50_fpn_v2 (the same detector without the mask head)",
    "keypointrcnn_resnet50_fpn": "Keypoint R-CNN trains on keypoints, and COCO/YOLO boxes carry none; use fasterrcnn_resnet50_fpn",
}
#: the exported detector's score floor (torchvision's Faster R-CNN default box_score_thresh)
EXPORT_MIN_SCORE = 0.05
#: the smallest input a detector runs at (its last feature maps must keep their kernels' size)
MIN_INPUT_PX = {"ssd300_vgg16": 300}


@dataclass(frozen=True)
class DetectorInput:
    """The size a detector runs at and why (a bench row or a run's config carries it)."""

    px: int
    reason: str


def to_model_labels(labels: torch.Tensor) -> torch.Tensor:
    """hoot's 0..K-1 class indices to the detector's 1..K (0 is background)."""
    return labels + 1


def model_targets(targets: list) -> list[dict[str, torch.Tensor]]:
    """torchvision's target dicts from hoot's BoxTargets (labels shifted past the background)."""
    return [{"boxes": t.boxes, "labels": to_model_labels(t.labels)} for t in targets]


def from_model_labels(labels: torch.Tensor) -> torch.Tensor:
    return labels - 1


def check_trainable(name: str) -> None:
    if name in NOT_TRAINABLE:
        raise HootError(f"'{name}' cannot be trained by hoot: {NOT_TRAINABLE[name]}")


def set_input_size(model: nn.Module, px: int) -> DetectorInput:
    """Make the model's own transform resize to `px` (square inputs stay square); returns the size
    it will really run at."""
    transform = getattr(model, "transform", None)
    if transform is None or not hasattr(transform, "min_size"):
        raise HootError(f"{type(model).__name__} has no resizing transform; hoot trains torchvision's detectors only")
    name = getattr(model, "hoot_variant", "")
    floor = MIN_INPUT_PX.get(name, 0)
    runs = max(int(px), floor)
    transform.min_size = (runs,)
    transform.max_size = runs  # hoot's cache holds square images: both sides are `runs`
    if getattr(transform, "fixed_size", None):
        transform.fixed_size = (runs, runs)
    reason = f"{runs} px: the model's transform resizes every image to it"
    if runs != px:
        reason = f"{runs} px: {name} cannot run below {floor} px (its last layers need it), so its transform upsizes the {px} px images"
    model.hoot_input = DetectorInput(runs, reason)
    return model.hoot_input


class Detector(nn.Module):
    """A torchvision detector behind hoot's tensor interface: a normalised batch (N,3,S,S) in;
    in train mode with targets, torchvision's own loss dict; in eval mode one BoxOutput per image
    (boxes in input pixels, hoot's class indices). The detector's transform runs at the batch's
    size (SSD300 at least at 300) and does not normalise again (the pipeline did)."""

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        self.detector = detector
        transform = detector.transform
        transform.image_mean, transform.image_std = [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]
        self.hoot_variant = getattr(detector, "hoot_variant", "")
        self.hoot_task = "detection"
        self.hoot_head_names = [f"detector.{n}" for n in getattr(detector, "hoot_head_names", [])]

    @property
    def max_detections(self) -> int | None:
        """The per-image cap on kept boxes (torchvision's `detections_per_img`), None if unknown."""
        for owner in (self.detector, getattr(self.detector, "roi_heads", None)):
            cap = getattr(owner, "detections_per_img", None)
            if cap is not None:
                return int(cap)
        return None

    @property
    def runs_at(self) -> DetectorInput | None:
        return getattr(self.detector, "hoot_input", None)

    def _run_at(self, x: torch.Tensor) -> None:
        """The detector's transform at the batch's size (every path in: training, eval, export rows)."""
        size = int(x.shape[-1])
        if self.runs_at is None or self.runs_at.px != max(size, MIN_INPUT_PX.get(self.hoot_variant, 0)):
            set_input_size(self.detector, size)

    def forward(self, x: torch.Tensor, targets: list | None = None):  # noqa: ANN201 - loss dict, outputs or rows
        self._run_at(x)
        if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
            return self.export_rows(x)
        images = list(x.unbind(0))
        if self.training and targets is not None:
            return self.detector(images, model_targets(targets))
        if self.training:  # BatchNorm re-estimation: the eval path, with BatchNorm layers collecting statistics
            self.detector.eval()
            for m in self.detector.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.train()
            try:
                return self._outputs(images)
            finally:
                self.detector.train()
        return self._outputs(images)

    def _outputs(self, images: list[torch.Tensor]) -> list["BoxOutput"]:
        return [BoxOutput(o["boxes"], from_model_labels(o["labels"]), o["scores"]) for o in self.detector(images)]

    def export_rows(self, x: torch.Tensor) -> torch.Tensor:
        """The first image's detections as (M, 6) rows x1, y1, x2, y2, score, class (hoot's index):
        one plain tensor, which is what ONNX export traces and checks (any batch: only x[0] is read).
        Rows scoring under EXPORT_MIN_SCORE are left out: SSD keeps boxes down to 0.001, where
        float differences between runtimes reorder near-ties and no check could match them."""
        self._run_at(x)
        out = self.detector([x[0]])[0]
        return BoxOutput(out["boxes"], from_model_labels(out["labels"]), out["scores"]).rows()


@dataclass
class BoxOutput:
    """One image's detections: boxes float [M,4] xyxy in input pixels, labels int64 [M] (hoot's
    indices), scores float [M], best first."""

    boxes: torch.Tensor
    labels: torch.Tensor
    scores: torch.Tensor

    def rows(self, min_score: float = EXPORT_MIN_SCORE) -> torch.Tensor:
        """(M, 6) rows x1, y1, x2, y2, score, class of the boxes scoring at least `min_score`: the
        exported detector's one output (`detections`)."""
        keep = self.scores >= min_score
        labels = self.labels[keep].to(self.boxes.dtype)
        return torch.cat([self.boxes[keep], self.scores[keep, None], labels[:, None]], dim=1)

    @classmethod
    def from_rows(cls, rows: torch.Tensor) -> "BoxOutput":
        """The inverse of `rows`: what the evaluator takes, from an exported detector's output."""
        rows = rows.reshape(-1, 6)
        return cls(rows[:, :4], rows[:, 5].long(), rows[:, 4])


def build_detector(name: str, num_classes: int, pretrained: bool, image_size: int | None = None,
                   catalog: Catalog | None = None) -> nn.Module:
    """Catalog detector `name` for `num_classes` user classes (K + 1 outputs with the background),
    from scratch or from its COCO weights with the class head replaced; at `image_size` if given."""
    check_trainable(name)
    cat = catalog or load_catalog()
    model = build_model(name, "detection", num_classes=num_classes + 1, pretrained=pretrained, catalog=cat)
    if image_size is not None:
        set_input_size(model, image_size)
    return model


def detection_candidates(catalog: Catalog | None = None) -> list[str]:
    """Every provided catalog entry with a detection builder that hoot can train."""
    cat = catalog or load_catalog()
    return [v.name for v in cat if v.provided and v.supports("detection") and v.builder_for("detection") not in NOT_TRAINABLE]
