"""The hard limits of a recommendation: the user's options and the target's budgets.

A limit is satisfied only by a figure that proves it: a measured latency (never an estimate
alone), a measured memory peak of the kind the user asks about (training or inference, never
the two mixed), the catalog's facts, or the documents' training-memory tier for training.
A model whose figure is unknown for a limit is excluded, and the check says why. No torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from hoot.advisor.catalog import MEMORY_TIERS

if TYPE_CHECKING:
    from hoot.advisor.recommender.advice import Candidate, Request
    from hoot.advisor.recommender.targets import Budget, Target

#: seeds/000 "Memory Usage Guidelines": GPU memory per tier (to train), upper bound in MB (None: open-ended)
TIER_UPPER_MB: dict[str, float | None] = {"low": 4096.0, "medium": 8192.0, "high": 16384.0, "very_high": None}
TIER_RULE = 'seeds/000 "Memory Usage Guidelines" (<4GB low, 4-8GB medium, 8-16GB high, >16GB very high)'


@dataclass(frozen=True)
class Check:
    ok: bool
    text: str  # the figure against the limit, e.g. "params 5.48M <= 10M"
    excess: float = 0.0  # how far past the limit, relative (0 when ok)


@dataclass(frozen=True)
class Constraint:
    key: str  # max_params, memory_tiers, ...
    label: str  # how the output names it: "--max-params 5M" or "target mobile max_params 10M"
    origin: str  # user | target
    test: Callable[["Candidate"], Check]
    source: str | None = None  # the document rule behind a target budget


def fmt_count(n: float) -> str:
    return f"{n / 1e6:.3g}M" if n >= 1e5 else f"{n:,.0f}"


def fmt(x: float) -> str:
    return f"{x:.3g}" if x < 1000 else f"{x:,.0f}"


def tier_of_memory_mb(peak_mb: float) -> str:
    """The seeds/000 memory tier a measured GPU training-memory peak falls in."""
    for tier in MEMORY_TIERS:
        upper = TIER_UPPER_MB[tier]
        if upper is None or peak_mb < upper:
            return tier
    return MEMORY_TIERS[-1]


def at_most(what: str, value: float | None, limit: float, show: Callable[[float], str], note: str = "") -> Check:
    if value is None:
        return Check(False, f"{what} unknown (no figure in the catalog){note}", math.inf)
    ok = value <= limit
    sign = "<=" if ok else ">"
    return Check(ok, f"{what} {show(value)} {sign} {show(limit)}{note}", 0.0 if ok else value / limit - 1)


def latency_check(limit: float) -> Callable[["Candidate"], Check]:
    """Only a measured latency can satisfy the limit; an estimate makes the model unknown for it."""
    def test(c: "Candidate") -> Check:
        if c.latency_source == "measured":
            late = "" if c.measurement is None or c.measurement.converged is not False else " (timing did not converge)"
            return at_most("latency", c.latency_ms, limit, lambda x: f"{x:.3g} ms", " (measured" + late + ")")
        if c.latency_source == "estimated":
            excess = max(c.latency_ms / limit - 1, 0.0) + 1e-3
            return Check(False, f"latency unknown: ~{c.latency_ms:.3g} ms is an estimate, which cannot prove "
                                f"<= {limit:g} ms (run `hoot bench --models {c.variant.name}`)", excess)
        return Check(False, "latency not measured in this setting on this hardware (run `hoot bench`)", math.inf)
    return test


def memory_check(limit: float, memory: str) -> Callable[["Candidate"], Check]:
    """Like with like: `memory` inference reads measured inference peaks only; train reads
    measured training peaks, else the documents' training-memory tier's upper bound."""
    def test(c: "Candidate") -> Check:
        m = c.train_measurement if memory == "train" else c.measurement
        if m is not None and m.peak_memory_mb is not None and m.mode == memory:
            where = "GPU allocator" if m.on_gpu else "process RSS"
            return at_most(f"{memory} peak memory", m.peak_memory_mb, limit, lambda x: f"{x:.0f} MB",
                           f" (measured, {where})")
        if memory == "inference":
            return Check(False, "inference peak memory not measured in this setting (run `hoot bench`; the catalog's "
                                "memory tiers are training memory and are not compared with an inference limit)",
                         math.inf)
        tier = c.variant.memory_tier
        if tier is None:
            return Check(False, "training memory not measured and no memory tier in the catalog", math.inf)
        upper = TIER_UPPER_MB[tier]
        if upper is None:
            return Check(False, f"training memory tier {tier} (>16 GB, {TIER_RULE}); not measured", math.inf)
        return at_most("training memory", upper, limit, lambda x: f"{x:.0f} MB",
                       f" (upper bound of tier {tier}, {TIER_RULE}; not measured)")
    return test


def size_check(limit: float, what: str = "weights") -> Callable[["Candidate"], Check]:
    def test(c: "Candidate") -> Check:
        mb, estimated = c.weights_mb
        return at_most(what, mb, limit, lambda x: f"{x:.3g} MB", " (params x 4 bytes)" if estimated else "")
    return test


def in_set(what: str, getter: Callable[["Candidate"], tuple[str | None, str]],
           allowed: tuple[str, ...]) -> Callable[["Candidate"], Check]:
    def test(c: "Candidate") -> Check:
        value, how = getter(c)
        if value is None:  # a judgement the catalog does not make: not a reason to exclude
            return Check(True, f"{what} not judged in the catalog")
        ok = value in allowed
        return Check(ok, f"{what} {value}{how} {'in' if ok else 'not in'} {'/'.join(allowed)}", 0.0 if ok else 1.0)
    return test


def _tier(c: "Candidate") -> tuple[str | None, str]:
    return c.memory_tier, " (measured training peak)" if c.memory_tier_source == "measured" else ""


def _speed(c: "Candidate") -> tuple[str | None, str]:
    return c.variant.speed_class, ""


def budget_constraint(target: "Target", b: "Budget") -> Constraint:
    """A target budget as a constraint; the kind picks the figure it limits (a table, not a branch per target)."""
    v = b.value
    makers: dict[str, Callable[[], tuple[str, Callable[["Candidate"], Check]]]] = {
        "max_params": lambda: (fmt_count(v), lambda c: at_most("params", c.variant.params, v, fmt_count)),
        "max_gmacs": lambda: (f"{v:g}", lambda c: at_most("GMACs", c.variant.gmacs, v, fmt)),
        "max_weights_mb": lambda: (f"{v:g} MB", size_check(v)),
        "memory_tiers": lambda: ("/".join(v), in_set("memory tier", _tier, v)),
        "speed_classes": lambda: ("/".join(v), in_set("speed class", _speed, v)),
    }
    shown, test = makers[b.kind]()
    return Constraint(b.kind, f"target {target.name} {b.kind} {shown}", "target", test, b.source)


def build_constraints(request: "Request", target: "Target | None") -> list[Constraint]:
    """The hard limits: the user's options, then the target's budgets for this task."""
    from hoot.advisor.recommender.advice import ACCURACY_METRICS

    r = request
    metric = ACCURACY_METRICS[r.task][0]
    out: list[Constraint] = []
    if r.max_params is not None:
        out.append(Constraint("max_params", f"--max-params {fmt_count(r.max_params)}", "user",
                              lambda c: at_most("params", c.variant.params, r.max_params, fmt_count)))
    if r.max_gmacs is not None:
        out.append(Constraint("max_gmacs", f"--max-gmacs {r.max_gmacs:g}", "user",
                              lambda c: at_most("GMACs", c.variant.gmacs, r.max_gmacs, fmt)))
    if r.max_size_mb is not None:
        out.append(Constraint("max_size_mb", f"--max-size-mb {r.max_size_mb:g}", "user", size_check(r.max_size_mb)))
    if r.max_memory_mb is not None:
        out.append(Constraint("max_memory_mb", f"--max-memory-mb {r.max_memory_mb:g} ({r.memory})", "user",
                              memory_check(r.max_memory_mb, r.memory)))
    if r.max_latency_ms is not None:
        out.append(Constraint("max_latency_ms", f"--max-latency-ms {r.max_latency_ms:g}", "user",
                              latency_check(r.max_latency_ms)))
    if r.min_top1 is not None:
        def at_least(c: "Candidate") -> Check:
            if c.accuracy is None:
                return Check(False, f"{metric} unknown", math.inf)
            ok = c.accuracy >= r.min_top1
            return Check(ok, f"{metric} {c.accuracy:.3g} {'>=' if ok else '<'} {r.min_top1:g}",
                         0.0 if ok else (r.min_top1 - c.accuracy) / max(r.min_top1, 1e-9))
        out.append(Constraint("min_top1", f"--min-top1 {r.min_top1:g} ({metric})", "user", at_least))
    if target is not None:
        out.extend(budget_constraint(target, b) for b in target.budgets_for(r.task))
    return out
