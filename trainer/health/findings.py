"""The health wing's typed records: what `hoot doctor` reads (one ImageRecord per image) and what
it reports (one Finding per problem, gathered in a DoctorReport).

Why records and not the scan itself: every check here works on a flat list of (path, labels,
split) rows, so any layout a task reads (class folders, train/val/test, multi-label today;
detection and segmentation boxes or masks once their readers land behind the task interface)
feeds the same checks by producing these rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: finding kinds, in the order the report shows them
KINDS = ("unreadable", "tiny", "odd-mode", "exact-duplicate", "near-duplicate", "cross-label", "leakage",
         "imbalance", "small-class", "label-error")
#: kinds that are advice, not a problem: they never make `hoot doctor` exit 1
NOTE_KINDS = ("small-class",)


@dataclass(frozen=True)
class ImageRecord:
    """One image as the checks see it: where it is, its label(s) by name, and its split.

    `split_source` says whether the split came from a folder the user made ("folder") or was
    drawn by hoot's own seeded split ("drawn"): leakage across folders is the user's to fix,
    across drawn splits it is hoot's (and its group-aware split prevents it)."""

    path: str
    labels: tuple[str, ...]
    split: str  # train | val | test
    split_source: str = "drawn"  # folder | drawn


@dataclass(frozen=True)
class Finding:
    """One problem: its kind, the files involved (pairs for duplicates and leaks) and why."""

    kind: str
    paths: tuple[str, ...]
    detail: str
    labels: tuple[str, ...] = ()
    splits: tuple[str, ...] = ()
    hamming_bits: int | None = None  # perceptual-hash distance of a near pair (0 for exact pairs)
    score: float | None = None  # label check: cleanlab's label quality (lower = more suspect)

    @property
    def is_problem(self) -> bool:
        return self.kind not in NOTE_KINDS

    def row(self) -> dict[str, Any]:
        """A flat row for hoot.advisor.render (lists joined for tables, kept as lists in JSON)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


@dataclass
class CheckTiming:
    """Seconds one check took (the report states them; the speed benchmark reads them)."""

    name: str
    seconds: float


@dataclass
class LabelCheckSummary:
    """How the label check ran: the model, folds, seed, budget and what it cost (or why it did not run)."""

    ran: bool
    method: str = ""
    folds: int = 0
    seed: int = 0
    budget_s: float = 0.0
    cpu_s: float = 0.0
    wall_s: float = 0.0
    oof_accuracy: float | None = None  # accuracy of the out-of-fold predictions (how much to trust them)
    reason: str = ""  # why it did not run (off, too few images, over budget)


@dataclass
class DoctorReport:
    """Everything `hoot doctor` found on one dataset."""

    root: str
    task: str
    layout: str
    n_images: int
    split_rule: str
    near_bits: int
    class_counts: list[dict[str, Any]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    timings: list[CheckTiming] = field(default_factory=list)
    label_check: LabelCheckSummary | None = None

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.is_problem]

    def of_kind(self, kind: str) -> list[Finding]:
        return [f for f in self.findings if f.kind == kind]

    def counts(self) -> dict[str, int]:
        """Findings per kind, every kind listed (0 when clean)."""
        return {k: len(self.of_kind(k)) for k in KINDS}

    def to_dict(self) -> dict[str, Any]:
        return {"root": self.root, "task": self.task, "layout": self.layout, "n_images": self.n_images,
                "split_rule": self.split_rule, "near_hamming_bits": self.near_bits, "clean": not self.problems,
                "counts": self.counts(), "class_counts": self.class_counts, "notes": self.notes,
                "label_check": asdict(self.label_check) if self.label_check else None,
                "timings_s": {t.name: round(t.seconds, 3) for t in self.timings},
                "findings": [f.row() for f in self.findings]}
