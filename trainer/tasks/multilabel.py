"""Multi-label classification: any number of tags per image, from `.txt` tag sidecars beside the
images (HootSight's layout, seeds/000) or `labels.csv`. Sigmoid + BCE (or sigmoid focal loss),
ranked on validation micro-F1 at 0.5."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import sigmoid_focal_loss

from hoot.advisor.errors import HootError
from hoot.advisor.metric import Metric
from hoot.trainer.data.dataset import LABELS_CSV, DatasetScan, Sample, has_tags, read_tagged
from hoot.trainer.tasks.base import Evaluator, LayoutMatch, LossOptions, PredictOptions, ScanOptions
from hoot.trainer.tasks.classification import ClassificationTask, LogitsEvaluator, softmax_rows
from hoot.trainer.tasks.label_metrics import multilabel_metrics


class MultiLabelLoss(nn.Module):
    """Sigmoid + BCE per tag (or sigmoid focal loss); targets are multi-hot."""

    def __init__(self, focal: bool = False, gamma: float = 2.0, alpha: float = 0.25, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.focal, self.gamma, self.alpha, self.label_smoothing = focal, gamma, alpha, label_smoothing

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        t = target.float()
        if self.label_smoothing:
            t = t * (1 - self.label_smoothing) + 0.5 * self.label_smoothing
        if self.focal:
            return sigmoid_focal_loss(logits.float(), t, alpha=self.alpha, gamma=self.gamma, reduction="mean")
        return F.binary_cross_entropy_with_logits(logits.float(), t)


class MultiLabelTask(ClassificationTask):
    """A classifier's model and augmentation with multi-hot targets and sigmoid outputs."""

    name = "multilabel"
    catalog_task = "classification"
    metric = Metric("val_f1", "maximize")
    losses = ("bce", "focal")

    @classmethod
    def detect(cls, root: Path) -> LayoutMatch | None:
        if not has_tags(root):
            return None
        return LayoutMatch(cls.name, LABELS_CSV if (root / LABELS_CSV).is_file() else ".txt tag sidecars")

    def scan(self, root: Path, options: ScanOptions) -> DatasetScan:
        return read_tagged(root, options.val_fraction, options.seed, options.test_fraction)

    def cache_targets(self, samples: Sequence[Sample], size: int, num_classes: int) -> np.ndarray:
        out = np.zeros((len(samples), num_classes), dtype=np.uint8)
        for i, s in enumerate(samples):
            out[i, list(s.label)] = 1
        return out

    def make_loss(self, options: LossOptions) -> nn.Module:
        name = options.name or ("focal" if options.focal else "bce")
        if name not in self.losses:
            raise HootError(f"--loss '{name}' is not one of {', '.join(self.losses)} for {self.name}")
        return MultiLabelLoss(focal=name == "focal", gamma=options.focal_gamma, label_smoothing=options.label_smoothing)

    def fake_targets(self, batch: int, size: int, num_classes: int, device: torch.device) -> torch.Tensor:
        return torch.randint(0, 2, (batch, num_classes), device=device).float()

    def evaluator(self, num_classes: int | None, loss_fn: nn.Module) -> Evaluator:
        return LogitsEvaluator(loss_fn, multilabel_metrics)

    def predict(self, model: nn.Module, x: torch.Tensor, images: Sequence[str], classes: Sequence[str],
                options: PredictOptions) -> list[dict[str, Any]]:
        """The top tag always, then every tag at or above `options.threshold` (up to top_k)."""
        with torch.inference_mode():
            probs = torch.sigmoid(model(x)).numpy()
        return softmax_rows(probs, images, classes, options.top_k,
                            keep=lambda rank, p: rank == 1 or p >= options.threshold)
