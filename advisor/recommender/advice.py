"""The recommender's records: the question (Request), a candidate with its figures, a pick
and the whole advice. Plain data shared by `recommend`, `constraints`, `ranking` and
`explanation` (kept apart so those modules import no cycle). No torch import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hoot.advisor.catalog import TASKS, Variant
from hoot.advisor.recommender.costs import MODES, MeasuredCost
from hoot.advisor.errors import HootError
from hoot.advisor.recommender.targets import Target, TargetBook

#: the accuracy figure ranked per task, and how it is labelled
ACCURACY_METRICS: dict[str, tuple[str, str]] = {
    "classification": ("top1", "ImageNet top-1 %"),
    "multilabel": ("top1", "ImageNet top-1 % (single-label proxy)"),
    "detection": ("box_map", "COCO box mAP"),
    "segmentation": ("miou", "VOC-on-COCO mIoU"),
}
BYTES_PER_PARAM_FP32 = 4
@dataclass(frozen=True)
class Request:
    """A question for the recommender. Limits are None when not given."""

    task: str = "classification"
    target: str | None = None
    max_latency_ms: float | None = None
    max_params: int | None = None
    max_gmacs: float | None = None
    max_size_mb: float | None = None
    max_memory_mb: float | None = None
    min_top1: float | None = None  # the task's accuracy metric (top-1 %, box mAP, mIoU)
    dataset_size: int | None = None
    median_short_side_px: float | None = None  # of the user's images, from a dataset scan
    top_k: int = 5
    memory: str | None = None  # inference | train; None: the target's default (targets.yaml)

    def validate(self, book: TargetBook) -> None:
        if self.task not in TASKS:
            raise HootError(f"unknown task '{self.task}'; use one of {', '.join(TASKS)}")
        if self.target is not None:
            book.get(self.target)
        for name in ("max_latency_ms", "max_params", "max_gmacs", "max_size_mb", "max_memory_mb"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise HootError(f"--{name.replace('_', '-')} is {value}; give a positive number")
        if self.min_top1 is not None and not 0 <= self.min_top1 <= 100:
            raise HootError(f"--min-top1 is {self.min_top1}; give a percentage between 0 and 100")
        if self.dataset_size is not None and self.dataset_size < 1:
            raise HootError(f"--dataset-size is {self.dataset_size}; give the number of labelled images (1 or more)")
        if self.top_k < 1:
            raise HootError(f"--top is {self.top_k}; give 1 or more")
        if self.memory is not None and self.memory not in MODES:
            raise HootError(f"--memory is '{self.memory}'; use one of {', '.join(MODES)}")


@dataclass
class Candidate:
    """A catalog variant with the figures the constraints and ranking read."""

    variant: Variant
    accuracy: float | None
    latency_ms: float | None = None
    latency_source: str | None = None  # measured | estimated | None (no latency figure)
    latency_interval: tuple[float, float] | None = None  # of an estimate
    measurement: MeasuredCost | None = None  # the row of the ranking's setting
    train_measurement: MeasuredCost | None = None  # a training row (memory tiers, --memory train)
    memory_tier: str | None = None
    memory_tier_source: str = "catalog"  # catalog | measured
    cost: float | None = None

    @property
    def weights_mb(self) -> tuple[float | None, bool]:
        """(weights file MB, estimated?): the catalog's figure, else fp32 params x 4 bytes."""
        v = self.variant
        if v.weights_file_mb is not None:
            return v.weights_file_mb, False
        if v.params is not None:
            return v.params * BYTES_PER_PARAM_FP32 / 2**20, True
        return None, False


@dataclass
class Pick:
    rank: int
    candidate: Candidate
    pareto_layer: int
    score: float
    reasons: list[str]

    @property
    def variant(self) -> Variant:
        return self.candidate.variant


@dataclass
class Advice:
    request: Request
    target: Target | None
    picks: list[Pick]
    survivors: list[str]  # every survivor, in rank order
    n_candidates: int  # provided variants that support the task
    excluded: dict[str, int]  # constraint label -> candidates it rejects
    cost_basis: str
    cost_unit: str  # ms | GMACs: the one unit of the ranking's cost
    estimated: bool  # True when any pick's cost is not a measurement
    hardware: dict[str, Any] | None
    measured: int  # survivors with a measured latency
    setting: str | None = None  # the label of the setting the ranking reads
    memory: str = "inference"
    n_estimated: int = 0  # survivors whose latency is an estimate
    unconverged: list[str] = field(default_factory=list)  # survivors whose timing did not converge
    contended: list[str] = field(default_factory=list)  # survivors timed on a busy machine (figures doubtful)
    mentions: list[dict[str, str]] = field(default_factory=list)
    after_selection: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checks: dict[str, list[tuple[str, bool, str]]] = field(default_factory=dict)  # name -> (constraint, ok, figure)
    standing: dict[str, str] = field(default_factory=dict)  # survivor -> its Pareto layer and what dominates it
