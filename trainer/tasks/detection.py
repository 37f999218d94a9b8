"""Detection behind hoot's one task interface: COCO and YOLO layouts, boxes cached beside the
images, torchvision's detectors with their own losses, boxes that move with the augmented
image, COCO mAP from torchmetrics, boxes as predictions, GT-beside-prediction pictures.

The pieces live in their own modules (layouts, models, augmentation, metric, pictures); this
one adapts them to `Task`. Decisions a user sees:
- images are cached like every task's (shorter side to S, centre crop); a box the crop cuts
  off is dropped and counted in the log, one partly cut is clipped;
- the metric is validation mAP@[.5:.95] (`val_map50_95`, higher is better); `val_map50` and
  per-class AP ride along. `val_loss` is NaN (not measured): torchvision's detectors give losses
  only in train mode, and a train-mode pass would move BatchNorm statistics during evaluation;
- `--loss` has one choice, `default`: each detector's own losses, summed as torchvision's
  references do.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np
import torch
from torch import nn
from torchvision.ops import box_iou

from hoot.advisor.dataset_scan import probe_header
from hoot.advisor.errors import HootError
from hoot.advisor.metric import Metric
from hoot.trainer.data.cache import crop_geometry
from hoot.trainer.data.dataset import DatasetScan, Sample
from hoot.trainer.data.splits import split_rule
from hoot.trainer.tasks.base import (EvalResult, Evaluator, ExportMismatch, ExportNames, LayoutMatch, LossOptions,
                                     Picture, PredictOptions, ScanOptions, Task)
from hoot.trainer.tasks.detection_augment import MIN_BOX_PX, BoxTarget, augment
from hoot.trainer.tasks.detection_layouts import BoxedImage, detection_layouts, read_detection, split_detection
from hoot.trainer.tasks.detection_metrics import BoxMetric
from hoot.trainer.tasks.detection_models import EXPORT_MIN_SCORE, BoxOutput, Detector, build_detector

log = logging.getLogger(__name__)
#: export check: a confident box matches one of the same class at this IoU and within this score
EXPORT_MATCH_IOU = 0.9
EXPORT_SCORE_TOL = 0.01
EXPORT_TIE = 1e-4  # two boxes of a class scoring within this are a tie (runtimes differ by ~1e-6)
PAD_CLASS = -1.0


def _tied(row: np.ndarray, rows: np.ndarray) -> bool:
    """`row` has a twin in `rows`: another box of its class with (almost) the same score."""
    same = rows[(rows[:, 5] == row[5]) & (np.abs(rows[:, 4] - row[4]) <= EXPORT_TIE)]
    return len(same) > 1


def _sample(im: BoxedImage) -> Sample:
    boxes = tuple((float(x1), float(y1), float(x2), float(y2), int(c)) for (x1, y1, x2, y2), c in zip(im.boxes.tolist(), im.labels.tolist()))
    return Sample(im.path, tuple(sorted(set(im.labels.tolist()))), im.width, im.height, boxes)


def to_box_targets(targets: torch.Tensor) -> list[BoxTarget]:
    """The cached (B, K, 5) rows back to one BoxTarget per image (padding rows have class -1)."""
    out = []
    for rows in targets:
        keep = rows[:, 4] >= 0
        out.append(BoxTarget(rows[keep, :4].float(), rows[keep, 4].long()))
    return out


def to_rows(targets: list[BoxTarget], width: int, device: torch.device) -> torch.Tensor:
    """One BoxTarget per image into (B, width, 5) rows padded with class -1."""
    out = torch.full((len(targets), width, 5), PAD_CLASS, device=device)
    for i, t in enumerate(targets):
        n = len(t.labels)
        out[i, :n, :4] = t.boxes
        out[i, :n, 4] = t.labels.to(out.dtype)
    return out


def cache_rows(samples: Sequence[Sample], size: int) -> tuple[np.ndarray, int]:
    """(N, K, 5) float32 rows in cache pixels (padded with class -1), and how many boxes the crop cut off."""
    per_image, cut = [], 0
    for s in samples:
        scale, _, _, left, top = crop_geometry(s.width, s.height, size)
        b = np.asarray([r[:4] for r in s.target], dtype=np.float32).reshape(-1, 4) * scale - [left, top, left, top]
        np.clip(b, 0, size, out=b)
        keep = ((b[:, 2] - b[:, 0]) >= MIN_BOX_PX) & ((b[:, 3] - b[:, 1]) >= MIN_BOX_PX)
        cut += int((~keep).sum())
        labels = np.asarray([r[4] for r in s.target], dtype=np.float32)[keep]
        per_image.append(np.concatenate([b[keep], labels[:, None]], axis=1))
    width = max([len(p) for p in per_image] + [1])
    out = np.full((len(samples), width, 5), PAD_CLASS, dtype=np.float32)
    for i, p in enumerate(per_image):
        out[i, :len(p)] = p
    return out, cut


class DetectorLoss(nn.Module):
    """The sum of a detector's own loss terms (torchvision's references weight them equally)."""

    def forward(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.stack(list(losses.values())).sum()


class DetectionEvaluator(Evaluator):
    def __init__(self, num_classes: int, classes: Sequence[str] | None = None) -> None:
        self.classes = list(classes) if classes else [str(i) for i in range(num_classes)]
        self._metric = BoxMetric(self.classes)

    def update(self, outputs: list[BoxOutput], targets: torch.Tensor) -> None:
        self._metric.update([BoxTarget(o.boxes, o.labels) for o in outputs], [o.scores for o in outputs], to_box_targets(targets))

    def compute(self) -> EvalResult:
        s = self._metric.compute()
        ap = [s.per_class_ap[c] for c in self.classes]
        # val_loss is NaN by decision (module doc): the detectors give losses in train mode only
        return EvalResult({"val_map50_95": s.map50_95, "val_map50": s.map50, "val_loss": math.nan}, {"ap": ap},
                          {"images": s.images})


class DetectionTask(Task):
    name: ClassVar[str] = "detection"
    metric: ClassVar[Metric] = Metric("val_map50_95", "maximize")
    losses: ClassVar[tuple[str, ...]] = ("default",)
    export_names: ClassVar[ExportNames] = ExportNames(("image",), ("detections",))
    catalog_task: ClassVar[str] = "detection"
    annotations_file: ClassVar[str] = "a COCO json"
    export_one_image: ClassVar[bool] = True
    trains_exported_graph: ClassVar[bool] = False  # the exported graph returns boxes after NMS, not losses
    unsupported_variants: ClassVar[dict[str, str]] = {
        **{v: "onnxruntime's INT8 quantiser cannot infer the shapes of a detector's box selection (top-k, NMS); "
              "ship the fp32 ONNX or OpenVINO file" for v in ("int8", "int8-qdq")},
        **{v: "torch.export cannot trace a torchvision detector: how many boxes it keeps depends on the scores "
              "(data-dependent shapes); ship the fp32 ONNX or OpenVINO file"
           for v in ("int8-pt2e", "executorch-xnnpack", "executorch-xnnpack-int8", "litert", "litert-int8")},
        "openvino-int8": "nncf cannot quantise a detector's traced graph; ship the fp32 OpenVINO file",
    }

    @classmethod
    def detect(cls, root: Path) -> LayoutMatch | None:
        found = detection_layouts(root)
        return LayoutMatch("detection", "+".join(found)) if found else None

    def scan(self, root: Path, options: ScanOptions) -> DatasetScan:
        data = read_detection(root, options.annotations)
        for line in data.counts.log_lines():
            log.info("%s: %s", data.source, line)
        train, val, test = split_detection(data, options.val_fraction, options.test_fraction, options.seed, options.grouper)
        given = {im.given_split for im in data.images}
        rule = split_rule("val" not in given, "test" not in given, options.val_fraction, options.test_fraction,
                          options.seed, share="of the images", method="stratified by each image's rarest class")
        return DatasetScan(str(root), self.name, data.layout, data.classes, [_sample(i) for i in train],
                           [_sample(i) for i in val], warnings=data.counts.log_lines(), test=[_sample(i) for i in test],
                           split_rule=rule)

    def cache_targets(self, samples: Sequence[Sample], size: int, num_classes: int) -> np.ndarray:
        rows, cut = cache_rows(samples, size)
        if cut:
            log.info("%d box(es) fall outside the %d px centre crop the images are cached at: dropped", cut, size)
        return rows

    def target_fingerprint(self, sample: Sample) -> str:
        return f"{sample.label}|{hash(sample.target)}"

    def build_model(self, variant: str, num_classes: int, pretrained: bool, catalog: Any = None,
                    image_size: int | None = None) -> nn.Module:
        return Detector(build_detector(variant, num_classes, pretrained, catalog=catalog)).eval()

    def make_loss(self, options: LossOptions) -> nn.Module:
        if options.name not in ("", "default"):
            raise HootError(f"--loss '{options.name}' does not apply to detection: each detector trains on its own "
                            "losses; drop --loss or pass --loss default")
        return DetectorLoss()

    def training_loss(self, model: nn.Module, x: torch.Tensor, targets: torch.Tensor, loss_fn: nn.Module) -> torch.Tensor:
        return loss_fn(model(x, to_box_targets(targets)))

    def augment(self, x: torch.Tensor, targets: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        images, moved = augment(x, to_box_targets(targets), g)
        return images, to_rows(moved, targets.shape[1], targets.device)

    def fake_targets(self, batch: int, size: int, num_classes: int, device: torch.device) -> torch.Tensor:
        row = torch.tensor([size * 0.25, size * 0.25, size * 0.75, size * 0.75, 0.0], device=device)
        return row.expand(batch, 1, 5).clone()

    def evaluator(self, num_classes: int | None, loss_fn: nn.Module) -> Evaluator:
        return DetectionEvaluator(num_classes or 0)

    def predict(self, model: nn.Module, x: torch.Tensor, images: Sequence[str], classes: Sequence[str],
                options: PredictOptions) -> list[dict[str, Any]]:
        """Boxes at or above `--score-threshold`, best first, in the source image's pixels."""
        size = int(x.shape[-1])
        with torch.inference_mode():
            outputs = model.eval()(x)
        rows = []
        for path, out in zip(images, outputs):
            probed = probe_header(path)
            width, height = probed if not isinstance(probed, str) else (size, size)
            scale, _, _, left, top = crop_geometry(width, height, size)
            keep = out.scores >= options.score_threshold
            boxes = (out.boxes[keep].cpu() + torch.tensor([left, top, left, top])) / scale
            for rank, (b, c, s) in enumerate(zip(boxes.tolist(), out.labels[keep].tolist(), out.scores[keep].tolist()), 1):
                rows.append({"image": path, "rank": rank, "class": classes[c], "score": round(float(s), 4),
                             "box": [round(v, 1) for v in b]})
        return rows

    def report_pictures(self, model: nn.Module, images: np.ndarray, targets: np.ndarray, x: torch.Tensor,
                        classes: Sequence[str], metrics: dict, out_dir: Path) -> list[Picture]:
        from hoot.trainer.tasks.detection_pictures import ap_bars, boxes_grid

        with torch.inference_mode():
            outputs = model.eval()(x)
        truth = to_box_targets(torch.as_tensor(targets))
        pictures = [boxes_grid(images, truth, outputs, list(classes), out_dir / "detections.png")]
        ap = (metrics.get("per_class") or {}).get("ap")
        if ap and any(v is not None and not math.isnan(v) for v in ap):
            pictures.append(ap_bars(list(classes), ap, out_dir / "per_class_ap.png"))
        return pictures

    def export_outputs(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """The first image's detections as (M, 6) rows x1, y1, x2, y2, score, class: what the exported
        detector's one output (`detections`) gives. Through the model's forward, so a compiled or
        quantised PyTorch variant runs as itself (the rows are `Detector.export_rows`' under tracing)."""
        return model.eval()(x[:1])[0].rows()

    def outputs_from_export(self, arr: np.ndarray, n: int) -> list[BoxOutput]:
        return [BoxOutput.from_rows(torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32)))]

    def check_export(self, model: nn.Module, got: np.ndarray, expected: np.ndarray, atol: float) -> dict[str, Any]:
        """Detections compared as detections (rows x1, y1, x2, y2, score, class): every box scoring
        above the floor in either output has a box of the same class in the other, IoU >= 0.9 and the
        score within 0.01. The floor is the score cut, or the lowest score an output kept when it
        filled the detector's per-image cap, plus that tolerance: near it a float difference between
        runtimes reorders near-ties, NMS then keeps a different neighbour, and no row-by-row check
        could match (the box counts differ; the confident boxes, the ones a user acts on, do not)."""
        if got.ndim != 2 or got.shape[1:] != expected.shape[1:]:
            raise ExportMismatch(f"gives output {got.shape} where PyTorch gives rows of {expected.shape[1:]}")
        cap = getattr(model, "max_detections", None)
        full = [float(a[:, 4].min()) for a in (got, expected) if cap and len(a) >= cap]
        floor = max([EXPORT_MIN_SCORE, *full]) + EXPORT_SCORE_TOL
        ious, score_diffs, tied = [], [], 0
        for rows, other, verb in ((expected, got, "lacks"), (got, expected, "adds")):
            for row in rows[rows[:, 4] > floor]:
                if _tied(row, rows):  # NMS keeps either of two equal scores: which one is the runtime's choice
                    tied += verb == "lacks"
                    continue
                same = other[(other[:, 5] == row[5]) & (other[:, 4] > floor - 2 * EXPORT_SCORE_TOL)]
                iou = box_iou(torch.from_numpy(row[None, :4]), torch.from_numpy(same[:, :4]))[0].numpy()
                fits = (iou >= EXPORT_MATCH_IOU) & (np.abs(same[:, 4] - row[4]) <= EXPORT_SCORE_TOL)
                if not fits.any():
                    raise ExportMismatch(f"disagrees with PyTorch: the export {verb} a box of class {int(row[5])} at "
                                         f"{[round(float(v), 1) for v in row[:4]]} scoring {row[4]:.3f}")
                best = int(np.argmax(np.where(fits, iou, -1.0)))
                ious.append(float(iou[best]))
                score_diffs.append(float(abs(same[best, 4] - row[4])))
        out: dict[str, Any] = {"boxes_compared": int((expected[:, 4] > floor).sum()) - tied, "score_floor": round(floor, 4),
                               "min_iou": min(ious, default=1.0), "max_score_diff": max(score_diffs, default=0.0)}
        if tied:
            out["tied_boxes_left_out"] = tied
        if not ious:
            out["note"] = (f"no box scored above {floor:.2f} apart from ties on the check images (an untrained "
                           "detector scores every box alike): only the output's form was checked")
        return out
