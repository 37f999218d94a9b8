"""Single-label classification: one class per image, from class folders (ImageFolder:
`DATA/<class>/<image>`; or pre-split `DATA/train/<class>/...` with `DATA/val/` and/or `DATA/test/`,
a split not given drawn from train, stratified and seeded). Softmax cross-entropy (optionally label-smoothed, or focal: seeds/003's
alpha 0.25, gamma 2.0), ranked on validation top-1."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from hoot.advisor.dataset_scan import IMAGE_EXTENSIONS, class_dirs, display_name, fence, find_splits
from hoot.advisor.errors import HootError
from hoot.advisor.metric import Metric
from hoot.trainer.data.dataset import (DatasetScan, Sample, check_root, check_trainable, check_usable, list_images,
                                       probe_all)
from hoot.trainer.data.splits import check_split_sizes, split_rule, stratified_split3
from hoot.trainer.tasks.base import (EvalResult, Evaluator, LayoutMatch, LossOptions, PredictOptions, ScanOptions,
                                     Task)
from hoot.trainer.tasks.label_metrics import classification_metrics

if TYPE_CHECKING:  # torch is imported where it is used: `--task auto` reads layouts without it
    import torch
    from torch import nn

    from hoot.advisor.catalog import Catalog


def _folder_pairs(folder: Path, classes: list[str] | None, train_dir: Path | None = None,
                  fenced: set[tuple[int, int]] | None = None) -> tuple[list[str], list[tuple[Path, object]]]:
    dirs = class_dirs(folder)
    names = [display_name(d.name) for d in dirs]
    if classes is None:
        classes = names
    seen = (fenced or set()) | fence(folder, *dirs)
    pairs = []
    for d, name in zip(dirs, names):
        if name not in classes:
            raise HootError(f"'{display_name(str(d))}' is a class that '{train_dir or folder}' does not have; give every "
                            "split folder the same class folders")
        for p in list_images(d, seen):
            pairs.append((p, name))
    return classes, pairs


def read_class_folders(data_dir: str | Path, val_fraction: float = 0.2, seed: int = 0,
                       test_fraction: float = 0.2, grouper: Callable[[list[str]], list[int]] | None = None) -> DatasetScan:
    """The ImageFolder layouts (DATA/<class>/, or DATA/train|val|test/<class>/): probe every image's
    header and split into train/val/test. Raises HootError when nothing trainable is there."""
    root = Path(data_dir)
    check_root(root)
    skipped: list[dict[str, str]] = []
    splits = find_splits(root)
    fenced = fence(root, *splits.values())
    if splits:
        classes, train_pairs = _folder_pairs(splits["train"], None, fenced=fenced)
        given = {name: _folder_pairs(splits[name], classes, splits["train"], fenced)[1] for name in ("val", "test") if name in splits}
        layout = "train-" + "-".join(given) if given else "train"
    else:
        classes, train_pairs = _folder_pairs(root, None, fenced=fenced)
        given, layout = {}, "imagefolder"
    if not classes:
        raise HootError(f"data folder '{root}' has no class folders; put each class's images in DATA/<class>/ (or DATA/train, "
                        "DATA/val and DATA/test); hoot also reads images/ + masks/ or VOC (--task segmentation), COCO or "
                        "YOLO (--task detection), .txt tags or labels.csv (--task multilabel)")
    if not train_pairs and not any(given.values()):
        raise HootError(f"data folder '{root}' has no images ({', '.join(IMAGE_EXTENSIONS[:5])}, ...) in its class folders")
    index = {c: i for i, c in enumerate(classes)}

    def samples(pairs):
        return [Sample(str(p), index[c], w, h) for p, c, w, h in probe_all(pairs, skipped)]

    train = samples(train_pairs)
    val, test = samples(given.get("val", [])), samples(given.get("test", []))
    draw_val, draw_test = "val" not in given, "test" not in given
    check_usable(root, classes, train, skipped)
    check_split_sizes(classes, [s.label for s in train], draw_val, draw_test, str(root), len(skipped))
    groups = grouper([s.path for s in train]) if grouper is not None and (draw_val or draw_test) else None
    tr_idx, va_idx, te_idx = stratified_split3([s.label for s in train], val_fraction if draw_val else 0.0,
                                               test_fraction if draw_test else 0.0, seed, groups)
    if draw_val:
        val = [train[i] for i in va_idx]
    if draw_test:
        test = [train[i] for i in te_idx]
    train = [train[i] for i in tr_idx]
    rule = split_rule(draw_val, draw_test, val_fraction, test_fraction, seed)
    scan = DatasetScan(str(root), "classification", layout, classes, train, val, skipped, test=test, split_rule=rule)
    check_trainable(scan)
    return scan


class LogitsEvaluator(Evaluator):
    """Collects every logit (a classifier's outputs are small) and scores them at the end with
    `metrics(logits, targets)`; also the loss and the logit spread (~0 when the network outputs
    the same logits for every image, e.g. SqueezeNet's dead ReLU head)."""

    def __init__(self, loss_fn: nn.Module, metrics) -> None:
        self.loss_fn, self.metrics = loss_fn, metrics
        self.outs: list[torch.Tensor] = []
        self.ys: list[torch.Tensor] = []

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        self.outs.append(outputs.float())
        self.ys.append(targets)

    def compute(self) -> EvalResult:
        import torch

        logits, y = torch.cat(self.outs).cpu().numpy(), torch.cat(self.ys).cpu().numpy()  # one copy back
        with torch.no_grad():
            loss = float(self.loss_fn(torch.from_numpy(logits), torch.from_numpy(y)))
        found = self.metrics(logits, y)
        per_class = found.pop("per_class", {})
        floats = {k: v for k, v in found.items() if isinstance(v, float)}
        extra = {k: v for k, v in found.items() if k not in floats}
        floats["val_loss"] = loss
        floats["val_logit_spread"] = float(logits.std(axis=0).mean()) if len(logits) > 1 else 0.0
        return EvalResult(floats, per_class, extra)


def softmax_rows(probs: np.ndarray, images: Sequence[str], classes: Sequence[str], top_k: int,
                 keep=lambda rank, p: True) -> list[dict[str, Any]]:
    """One row per (image, class) in rank order: image, rank, class, probability."""
    rows = []
    for img, p in zip(images, probs):
        order = np.argsort(-p)[: min(top_k, len(classes))]
        for rank, c in enumerate(order, 1):
            if not keep(rank, p[c]):
                break
            rows.append({"image": img, "rank": rank, "class": classes[c], "probability": float(p[c])})
    return rows


class ClassificationTask(Task):
    name = "classification"
    catalog_task = "classification"
    label_check = "single"
    metric = Metric("val_top1", "maximize")
    losses = ("ce", "focal")

    @classmethod
    def detect(cls, root: Path) -> LayoutMatch | None:
        """Any folder of folders reads as class folders: the generic fallback, never specific."""
        base = find_splits(root).get("train", root)
        return LayoutMatch(cls.name, "class folders", specific=False) if class_dirs(base) else None

    def scan(self, root: Path, options: ScanOptions) -> DatasetScan:
        return read_class_folders(root, options.val_fraction, options.seed, options.test_fraction, options.grouper)

    def cache_targets(self, samples: Sequence[Sample], size: int, num_classes: int) -> np.ndarray:
        return np.array([int(s.label) for s in samples], dtype=np.int64)

    def build_model(self, variant: str, num_classes: int, pretrained: bool, catalog: "Catalog | None" = None,
                    image_size: int | None = None) -> nn.Module:
        from hoot.bench.models import build_model

        return build_model(variant, task=self.catalog_task, num_classes=num_classes, pretrained=pretrained, catalog=catalog,
                           image_size=image_size)

    def make_loss(self, options: LossOptions) -> nn.Module:
        from torch import nn

        from hoot.trainer.tasks.losses import SoftmaxFocalLoss

        name = options.name or ("focal" if options.focal else "ce")
        if name not in self.losses:
            raise HootError(f"--loss '{name}' is not one of {', '.join(self.losses)} for {self.name}")
        if name == "focal":
            return SoftmaxFocalLoss(gamma=options.focal_gamma, label_smoothing=options.label_smoothing)
        return nn.CrossEntropyLoss(label_smoothing=options.label_smoothing)

    def training_loss(self, model: nn.Module, x: torch.Tensor, targets: torch.Tensor, loss_fn: nn.Module) -> torch.Tensor:
        return loss_fn(model(x).float(), targets)

    def evaluator(self, num_classes: int | None, loss_fn: nn.Module) -> Evaluator:
        return LogitsEvaluator(loss_fn, classification_metrics)

    def predict(self, model: nn.Module, x: torch.Tensor, images: Sequence[str], classes: Sequence[str],
                options: PredictOptions) -> list[dict[str, Any]]:
        import torch

        with torch.inference_mode():
            probs = torch.softmax(model(x), dim=1).numpy()
        return softmax_rows(probs, images, classes, options.top_k)
