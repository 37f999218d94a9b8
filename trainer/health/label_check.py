"""Likely label errors by confident learning (cleanlab) on out-of-fold predicted probabilities.

The model is a linear probe: scikit-learn's logistic regression on each image's 16x16 RGB
thumbnail (standardised pixels, 64 principal components), trained k-fold (stratified, seeded) so every image is scored
by a model that never saw it. Why so small: it runs on a CPU in seconds for thousands of
images, needs no weights (nothing to download), and confident learning needs only probabilities
that are better than chance per class; a pixel probe is strong on digits-like data and weak on
photos, so the report states the out-of-fold accuracy beside the suspects (low accuracy: few
trustworthy suspects). cleanlab.filter.find_label_issues picks the suspects and
cleanlab.rank.get_label_quality_scores ranks them (lower: more suspect).

The budget is wall-clock seconds checked after each fold: a run over it stops and says so
instead of reporting half-scored images.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from hoot.trainer.health.findings import LabelCheckSummary

DEFAULT_FOLDS = 5
DEFAULT_BUDGET_S = 120.0
#: principal components of the thumbnails the probe sees (768 pixels -> 64: several times faster, same accuracy on digits)
PCA_COMPONENTS = 64
METHOD = ("logistic regression (C=0.1) on 64 principal components of 16x16 RGB thumbnails (scikit-learn), "
          "{k}-fold out-of-fold probabilities, cleanlab")


@dataclass(frozen=True)
class LabelIssue:
    """One image whose given label the out-of-fold model disagrees with confidently."""

    index: int
    quality: float  # cleanlab's label quality score (0..1, lower = more suspect)
    predicted: tuple[int, ...]  # the class(es) the model believes


def _probe(n_train: int, n_features: int):
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), PCA(max(1, min(PCA_COMPONENTS, n_train - 1, n_features)), random_state=0), LogisticRegression(max_iter=300, C=0.1))


def _oof_probabilities(x: np.ndarray, y: np.ndarray, n_classes: int, folds: list, multilabel: bool,
                       budget_s: float, started: float) -> tuple[np.ndarray | None, int]:
    from sklearn.multiclass import OneVsRestClassifier

    probs = np.zeros((len(x), n_classes))
    for k, (tr, te) in enumerate(folds):
        model = OneVsRestClassifier(_probe(len(tr), x.shape[1])) if multilabel else _probe(len(tr), x.shape[1])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a tag absent from a fold: sklearn warns and predicts it never
            model.fit(x[tr], y[tr])
            p = model.predict_proba(x[te])
        if multilabel:
            probs[te] = p
        else:
            probs[np.ix_(te, model.classes_)] = p
        if time.perf_counter() - started > budget_s and k < len(folds) - 1:
            return None, k + 1
    return probs, len(folds)


def find_label_issues(pixels: np.ndarray, labels: Sequence[tuple[int, ...]], n_classes: int, multilabel: bool,
                      folds: int = DEFAULT_FOLDS, seed: int = 0,
                      budget_s: float = DEFAULT_BUDGET_S) -> tuple[list[LabelIssue], LabelCheckSummary]:
    """Suspect labels among `labels` (class indices per image) given THUMB_PX thumbnails `pixels`."""
    from sklearn.model_selection import KFold, StratifiedKFold

    started, cpu0 = time.perf_counter(), time.process_time()
    summary = LabelCheckSummary(ran=False, folds=folds, seed=seed, budget_s=budget_s)
    x = pixels.reshape(len(pixels), -1).astype(np.float32) / 255.0
    if multilabel:
        y = np.zeros((len(labels), n_classes), dtype=int)
        for i, tags in enumerate(labels):
            y[i, list(tags)] = 1
        smallest = int(y.sum(axis=0).min()) if len(y) else 0
        splitter = KFold(folds, shuffle=True, random_state=seed)
    else:
        y = np.array([t[0] for t in labels])
        smallest = int(np.bincount(y, minlength=n_classes).min()) if len(y) else 0
        splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    if smallest < folds:
        summary.reason = (f"a class has {smallest} readable image(s); {folds}-fold cross-validation needs {folds} "
                          "per class (pass --folds lower)")
        return [], summary
    probs, done = _oof_probabilities(x, y, n_classes, list(splitter.split(x, y if not multilabel else None)),
                                     multilabel, budget_s, started)
    summary.wall_s, summary.cpu_s = time.perf_counter() - started, time.process_time() - cpu0
    summary.method = METHOD.format(k=folds)
    if probs is None:
        summary.reason = f"over the {budget_s:g} s budget after {done} of {folds} folds ({summary.wall_s:.1f} s); raise --label-budget-s"
        return [], summary
    issues = _cleanlab(probs, labels, y, multilabel)
    summary.ran = True
    summary.wall_s, summary.cpu_s = time.perf_counter() - started, time.process_time() - cpu0
    if multilabel:
        summary.oof_accuracy = float(((probs >= 0.5) == (y == 1)).all(axis=1).mean())
    else:
        summary.oof_accuracy = float((probs.argmax(axis=1) == y).mean())
    return issues, summary


def _cleanlab(probs: np.ndarray, labels: Sequence[tuple[int, ...]], y: np.ndarray, multilabel: bool) -> list[LabelIssue]:
    import cleanlab.filter

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if multilabel:
            from cleanlab.multilabel_classification.rank import get_label_quality_scores

            given = [list(t) for t in labels]
            flagged = cleanlab.filter.find_label_issues(given, probs, multi_label=True)
            quality = get_label_quality_scores(given, probs)
            predicted = [tuple(int(c) for c in np.nonzero(p >= 0.5)[0]) for p in probs]
        else:
            from cleanlab.rank import get_label_quality_scores

            flagged = cleanlab.filter.find_label_issues(y, probs)
            quality = get_label_quality_scores(y, probs)
            predicted = [(int(p.argmax()),) for p in probs]
    idx = sorted(np.nonzero(flagged)[0], key=lambda i: quality[i])
    return [LabelIssue(int(i), float(quality[i]), predicted[i]) for i in idx]
