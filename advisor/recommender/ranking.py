"""Ranking the survivors: Pareto layers on (accuracy up, cost down), then a score within a layer.

The score's weights and the role bonuses are hoot's own numbers (targets.yaml says so); the
dataset fit reads seeds/000 "By Dataset Size" and the input-size rule of `guidance`. No torch.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from hoot.advisor.guidance import dataset_band, input_size_fit

if TYPE_CHECKING:
    from hoot.advisor.recommender.advice import Candidate, Request
    from hoot.advisor.recommender.targets import Ranking


def dominates(a: "Candidate", b: "Candidate") -> bool:
    return (a.accuracy >= b.accuracy and a.cost <= b.cost) and (a.accuracy > b.accuracy or a.cost < b.cost)


def pareto_layers(pool: list["Candidate"]) -> list[list["Candidate"]]:
    """Non-dominated sorting on (accuracy up, cost down): layer 1 is the Pareto front.
    Candidates lacking an accuracy or a cost go in a last layer of their own."""
    rankable = [c for c in pool if c.accuracy is not None and c.cost is not None]
    rest = [c for c in pool if c not in rankable]
    layers = []
    while rankable:
        front = [c for c in rankable if not any(dominates(o, c) for o in rankable if o is not c)]
        layers.append(front)
        rankable = [c for c in rankable if c not in front]
    if rest:
        layers.append(rest)
    return layers


def pareto_reason(c: "Candidate", layer: int, layers: list[list["Candidate"]]) -> str:
    if layer == 1:
        return "Pareto front: no other survivor is both at least as accurate and cheaper"
    if c.accuracy is None or c.cost is None:
        return f"Pareto layer {layer}: no accuracy or cost figure to rank on"
    better = next((o for o in layers[layer - 2] if dominates(o, c)), None)
    return f"Pareto layer {layer}" + (f": {better.variant.name} is at least as accurate and cheaper" if better else "")


def _normalise(values: list[float], value: float, log: bool = False) -> float:
    f = math.log if log else (lambda x: x)
    lo, hi = f(min(values)), f(max(values))
    return 1.0 if hi == lo else (f(value) - lo) / (hi - lo)


def dataset_fit(c: "Candidate", request: "Request") -> tuple[float | None, list[str]]:
    """(fit 0..1 or None when unknown, reasons) from the dataset size and the image size."""
    scores, reasons = [], []
    if request.dataset_size is not None:
        band = dataset_band(request.dataset_size)
        if c.variant.dataset_sizes:
            fits = band.name in c.variant.dataset_sizes
            scores.append(1.0 if fits else 0.0)
            reasons.append(f"{'suits' if fits else 'not listed for'} {band.name} datasets "
                           f"({request.dataset_size} images; {band.rule.split(':')[0]})")
    fits, note = input_size_fit(c.variant.crop_size, request.median_short_side_px)
    if fits is not None:
        scores.append(1.0 if fits else 0.0)
        reasons.append(note)
    return (sum(scores) / len(scores) if scores else None), reasons


def score(c: "Candidate", pool: list["Candidate"], weights: "Ranking", role_bonus: float, fit: float | None) -> float:
    """hoot's weighted score (targets.yaml weights): accuracy, log cost, the documents' role, dataset fit."""
    accs = [p.accuracy for p in pool if p.accuracy is not None]
    costs = [p.cost for p in pool if p.cost is not None and p.cost > 0]
    acc_n = _normalise(accs, c.accuracy) if c.accuracy is not None and accs else 0.0
    cost_n = 1.0 - _normalise(costs, c.cost, log=True) if c.cost and costs else 0.0
    return (weights.accuracy * acc_n + weights.cost * cost_n + weights.document * role_bonus
            + weights.dataset_fit * (0.5 if fit is None else fit))
