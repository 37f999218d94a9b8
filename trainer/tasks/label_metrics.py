"""Classification and multi-label metrics in the field's words: top-1, confusion matrix, per-class precision/recall/F1,
and for multi-label micro/macro F1 and mAP (mean average precision over classes).

Plain numpy, so reports and tests can recompute them from saved predictions.
"""

from __future__ import annotations

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows: true class, columns: predicted class."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (y_true.astype(np.int64), y_pred.astype(np.int64)), 1)
    return cm


def _prf(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1), 0.0)
        recall = np.where(tp + fn > 0, tp / np.maximum(tp + fn, 1), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    return precision, recall, f1


def per_class_from_confusion(cm: np.ndarray) -> dict[str, np.ndarray]:
    tp = np.diag(cm).astype(np.float64)
    fp = cm.sum(axis=0) - tp
    fn = cm.sum(axis=1) - tp
    p, r, f = _prf(tp, fp, fn)
    return {"precision": p, "recall": r, "f1": f, "support": cm.sum(axis=1)}


def classification_metrics(logits: np.ndarray, y_true: np.ndarray) -> dict:
    """top1 (fraction), top5 when there are more than 5 classes, macro F1, confusion matrix, per class."""
    num_classes = logits.shape[1]
    pred = logits.argmax(axis=1)
    cm = confusion_matrix(y_true, pred, num_classes)
    per = per_class_from_confusion(cm)
    out = {"val_top1": float((pred == y_true).mean()) if len(y_true) else 0.0,
           "val_macro_f1": float(per["f1"].mean()),
           "confusion_matrix": cm.tolist(),
           "per_class": {k: v.tolist() for k, v in per.items()}}
    if num_classes > 5:
        top5 = np.argsort(-logits, axis=1)[:, :5]
        out["val_top5"] = float((top5 == y_true[:, None]).any(axis=1).mean())
    return out


def average_precision(scores: np.ndarray, target: np.ndarray) -> float:
    """Area under the precision-recall curve for one class (the VOC/sklearn non-interpolated AP);
    NaN when the class has no positives."""
    positives = int(target.sum())
    if positives == 0:
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    hits = target[order].astype(np.float64)
    tp = np.cumsum(hits)
    precision = tp / np.arange(1, len(hits) + 1)
    return float((precision * hits).sum() / positives)


def multilabel_metrics(logits: np.ndarray, y_true: np.ndarray, threshold: float = 0.5) -> dict:
    """Micro and macro F1 at `threshold` on the sigmoid, mAP, per-class P/R/F1."""
    probs = 1.0 / (1.0 + np.exp(-logits))
    pred = probs >= threshold
    t = y_true.astype(bool)
    tp = (pred & t).sum(axis=0).astype(np.float64)
    fp = (pred & ~t).sum(axis=0).astype(np.float64)
    fn = (~pred & t).sum(axis=0).astype(np.float64)
    p, r, f = _prf(tp, fp, fn)
    mp, mr, mf = _prf(np.array([tp.sum()]), np.array([fp.sum()]), np.array([fn.sum()]))
    aps = np.array([average_precision(probs[:, c], t[:, c]) for c in range(t.shape[1])])
    return {"val_f1": float(mf[0]), "val_macro_f1": float(f.mean()),
            "val_map": float(np.nanmean(aps)) if np.isfinite(aps).any() else 0.0,
            "val_exact_match": float((pred == t).all(axis=1).mean()) if len(t) else 0.0,
            "per_class": {"precision": p.tolist(), "recall": r.tolist(), "f1": f.tolist(),
                          "support": t.sum(axis=0).tolist(), "ap": [None if np.isnan(a) else float(a) for a in aps]}}


def best_threshold(logits: np.ndarray, y_true: np.ndarray) -> float:
    """The sigmoid threshold (0.05..0.95 in steps of 0.05) with the best micro F1 on these labels; ties
    go to the one nearest 0.5. Selected on validation, it is the one `hoot predict` tags with."""
    grid = np.round(np.arange(0.05, 0.951, 0.05), 2)
    scores = [multilabel_metrics(logits, y_true, float(t))["val_f1"] for t in grid]
    best = max(range(len(grid)), key=lambda i: (round(scores[i], 9), -abs(grid[i] - 0.5)))
    return float(grid[best])

