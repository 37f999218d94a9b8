"""Multi-label classification: any number of tags per image, from `.txt` tag sidecars beside the
images (`cat.jpg` + `cat.txt` = "cat, indoor", as HootSight does, seeds/000) or `DATA/labels.csv`
(columns `image,labels`, labels separated by `;`, `,`, `|` or spaces), optionally under train/val/test. Sigmoid + BCE (or sigmoid focal loss),
ranked on validation micro-F1 at 0.5."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from hoot.advisor.errors import HootError
from hoot.advisor.metric import Metric
from hoot.advisor.dataset_scan import find_splits
from hoot.trainer.data.dataset import DatasetScan, Sample, check_root, check_trainable, is_image, list_images, probe_all
from hoot.trainer.data.splits import min_images_per_class, shuffled_split3, split_rule
from hoot.trainer.tasks.base import Evaluator, LayoutMatch, LossOptions, PredictOptions, ScanOptions
from hoot.trainer.tasks.classification import ClassificationTask, LogitsEvaluator, softmax_rows
from hoot.trainer.tasks.label_metrics import multilabel_metrics

if TYPE_CHECKING:
    import torch
    from torch import nn


LABELS_CSV = "labels.csv"
_TAG_SPLIT = re.compile(r"[;,|\n\r\t ]+")


def _has_sidecars(images: Sequence[Path]) -> bool:
    return any(p.with_suffix(".txt").is_file() for p in images)


def _read_tags(text: str) -> list[str]:
    return [t.strip() for t in _TAG_SPLIT.split(text) if t.strip()]


def _multilabel_pairs(root: Path, skipped: list[dict[str, str]]) -> tuple[str, list[tuple[Path, object]]]:
    csv_path = root / LABELS_CSV
    pairs: list[tuple[Path, object]] = []
    if csv_path.is_file():
        with csv_path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            fields = {f.lower().strip(): f for f in (reader.fieldnames or [])}
            img_col = next((fields[k] for k in ("image", "filename", "file", "path") if k in fields), None)
            lab_col = next((fields[k] for k in ("labels", "tags", "label") if k in fields), None)
            if img_col is None or lab_col is None:
                raise HootError(f"'{csv_path}' needs a header with columns 'image' and 'labels' (labels separated by ';')")
            for row in reader:
                rel = (row.get(img_col) or "").strip()
                if not rel:
                    continue
                path = root / rel
                if not path.is_file():
                    skipped.append({"path": str(path), "reason": f"listed in {LABELS_CSV} but missing"})
                    continue
                pairs.append((path, tuple(_read_tags(row.get(lab_col) or ""))))
        return LABELS_CSV, pairs
    for p in list_images(root):
        side = p.with_suffix(".txt")
        if not side.is_file():
            skipped.append({"path": str(p), "reason": "no .txt tag sidecar"})
            continue
        pairs.append((p, tuple(_read_tags(side.read_text(encoding="utf-8", errors="replace")))))
    return "sidecars", pairs


def has_tags(root: Path) -> bool:
    """Does `root` hold the multi-label layout (labels.csv, or .txt tag sidecars beside images)?"""
    root = Path(root)
    if (root / LABELS_CSV).is_file():
        return True
    top_images = [p for p in root.iterdir() if p.is_file() and is_image(p)]
    return _has_sidecars(top_images if top_images else list_images(root)[:2000])


def read_tagged(data_dir: str | Path, val_fraction: float = 0.2, seed: int = 0, test_fraction: float = 0.2,
                grouper: Callable[[list[str]], list[int]] | None = None) -> DatasetScan:
    """The multi-label layouts (.txt tag sidecars or labels.csv, optionally under train/val/test)."""
    root = Path(data_dir)
    check_root(root)
    skipped: list[dict[str, str]] = []
    splits = find_splits(root)
    layout, train_pairs = _multilabel_pairs(splits.get("train", root), skipped)
    given = {name: _multilabel_pairs(splits[name], skipped)[1] for name in ("val", "test") if name in splits}
    if splits:
        layout += " (train-" + "-".join(given) + ")" if given else " (train)"
    if not train_pairs:
        raise HootError(f"data folder '{root}' has no tagged images; give each image a .txt sidecar of tags or add {LABELS_CSV}")
    train_ok = probe_all(train_pairs, skipped)
    val_ok, test_ok = probe_all(given.get("val", []), skipped), probe_all(given.get("test", []), skipped)
    draw_val, draw_test = "val" not in given, "test" not in given
    need = min_images_per_class(draw_val, draw_test)
    if len(train_ok) < need:
        raise HootError(f"data folder '{root}' has {len(train_ok)} usable tagged image(s) ({len(skipped)} skipped); "
                        f"training, validation and test need at least {need}: add images")
    groups = grouper([str(p) for p, _, _, _ in train_ok]) if grouper is not None and (draw_val or draw_test) else None
    tr_idx, va_idx, te_idx = shuffled_split3(len(train_ok), val_fraction, test_fraction, seed, draw_val, draw_test, groups)
    if draw_test:
        test_ok = [train_ok[i] for i in te_idx]
    if draw_val:
        val_ok = [train_ok[i] for i in va_idx]
    train_ok = [train_ok[i] for i in tr_idx]
    classes = sorted({t for _, tags, _, _ in train_ok for t in tags})
    index = {c: i for i, c in enumerate(classes)}
    warn = []
    unseen = sorted({t for _, tags, _, _ in val_ok + test_ok for t in tags} - set(classes))
    if unseen:
        warn.append(f"tags only in the validation or test split are ignored: {', '.join(unseen[:10])}")

    def to_samples(rows):
        return [Sample(str(p), tuple(sorted({index[t] for t in tags if t in index})), w, h) for p, tags, w, h in rows]

    rule = split_rule(draw_val, draw_test, val_fraction, test_fraction, seed, share="of the images",
                      method="seeded shuffle, not stratified per tag")
    scan = DatasetScan(str(root), "multilabel", layout, classes, to_samples(train_ok), to_samples(val_ok), skipped, warn,
                       test=to_samples(test_ok), split_rule=rule)
    check_trainable(scan)
    return scan


class MultiLabelTask(ClassificationTask):
    """A classifier's model and augmentation with multi-hot targets and sigmoid outputs."""

    name = "multilabel"
    catalog_task = "classification"
    label_check = "multi"
    metric = Metric("val_f1", "maximize")
    selects_threshold = True
    losses = ("bce", "focal")

    @classmethod
    def detect(cls, root: Path) -> LayoutMatch | None:
        if not has_tags(root):
            return None
        return LayoutMatch(cls.name, LABELS_CSV if (root / LABELS_CSV).is_file() else ".txt tag sidecars")

    def scan(self, root: Path, options: ScanOptions) -> DatasetScan:
        return read_tagged(root, options.val_fraction, options.seed, options.test_fraction, options.grouper)

    def cache_targets(self, samples: Sequence[Sample], size: int, num_classes: int) -> np.ndarray:
        out = np.zeros((len(samples), num_classes), dtype=np.uint8)
        for i, s in enumerate(samples):
            out[i, list(s.label)] = 1
        return out

    def make_loss(self, options: LossOptions) -> nn.Module:
        from hoot.trainer.tasks.losses import MultiLabelLoss

        name = options.name or ("focal" if options.focal else "bce")
        if name not in self.losses:
            raise HootError(f"--loss '{name}' is not one of {', '.join(self.losses)} for {self.name}")
        return MultiLabelLoss(focal=name == "focal", gamma=options.focal_gamma, label_smoothing=options.label_smoothing)

    def fake_targets(self, batch: int, size: int, num_classes: int, device: torch.device) -> torch.Tensor:
        import torch

        return torch.randint(0, 2, (batch, num_classes), device=device).float()

    def evaluator(self, num_classes: int | None, loss_fn: nn.Module) -> Evaluator:
        return LogitsEvaluator(loss_fn, multilabel_metrics)

    def predict(self, model: nn.Module, x: torch.Tensor, images: Sequence[str], classes: Sequence[str],
                options: PredictOptions) -> list[dict[str, Any]]:
        """The `top_k` most likely tags of each image, each saying whether it is given (`tagged`: at or
        over `options.threshold`, the run's validation-selected threshold unless the user set one)."""
        import torch

        with torch.inference_mode():
            probs = torch.sigmoid(model(x)).numpy()
        rows = softmax_rows(probs, images, classes, options.top_k)
        for row in rows:
            row["tagged"] = bool(row["probability"] >= options.threshold)
        return rows
