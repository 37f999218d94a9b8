"""The recommender: hard constraints filter the catalog, survivors are ranked on accuracy
against cost (the Pareto front first), and every pick carries the reasons that put it there.

Cost is the batch-1 latency measured on the chosen hardware when the results store has
it; otherwise an estimate (GMACs, or latency scaled from GMACs with a ratio fitted on
this hardware's own measurements), and the advice says which. A target's budgets and
ranking weights come from `advisor/targets.yaml`; nothing here branches on a target's
name. No torch import.
"""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass, field
from typing import Any, Callable

from hoot.advisor.catalog import MEMORY_TIERS, TASKS, Catalog, Variant, load_catalog
from hoot.advisor.errors import HootError, NoAnswer
from hoot.advisor.guidance import dataset_band, input_size_fit
from hoot.advisor.targets import Budget, Ranking, Target, TargetBook, load_targets

#: the accuracy figure ranked per task, and how it is labelled
ACCURACY_METRICS: dict[str, tuple[str, str]] = {
    "classification": ("top1", "ImageNet top-1 %"),
    "multilabel": ("top1", "ImageNet top-1 % (single-label proxy)"),
    "detection": ("box_map", "COCO box mAP"),
    "segmentation": ("miou", "VOC-on-COCO mIoU"),
}
#: seeds/000 "Memory Usage Guidelines": GPU memory per tier, upper bound in MB (None: open-ended)
TIER_UPPER_MB: dict[str, float | None] = {"low": 4096.0, "medium": 8192.0, "high": 16384.0, "very_high": None}
TIER_RULE = 'seeds/000 "Memory Usage Guidelines" (<4GB low, 4-8GB medium, 8-16GB high, >16GB very high)'
#: measured latencies needed on one hardware before unmeasured models get a latency estimate
MIN_FIT_POINTS = 3
#: allowed exponent of the latency ~ GMACs power law fitted on measurements
POWER_RANGE = (0.0, 1.5)
BYTES_PER_PARAM_FP32 = 4
_SEED_REF = re.compile(r"seeds/\d{3}")


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
        if self.dataset_size is not None and self.dataset_size < 0:
            raise HootError(f"--dataset-size is {self.dataset_size}; give a whole number of images >= 0")
        if self.top_k < 1:
            raise HootError(f"--top is {self.top_k}; give 1 or more")


@dataclass
class Candidate:
    """A catalog variant with the figures the constraints and ranking read."""

    variant: Variant
    accuracy: float | None
    latency_ms: float | None = None
    latency_source: str | None = None  # measured | estimated
    measurement: dict[str, Any] | None = None
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
    test: Callable[[Candidate], Check]
    source: str | None = None  # the document rule behind a target budget


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
    estimated: bool  # True when any pick's cost is an estimate
    hardware: dict[str, Any] | None
    measured: int  # survivors with a measured latency
    mentions: list[dict[str, str]] = field(default_factory=list)
    after_selection: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checks: dict[str, list[tuple[str, bool, str]]] = field(default_factory=dict)  # name -> (constraint, ok, figure)
    standing: dict[str, str] = field(default_factory=dict)  # survivor -> its Pareto layer and what dominates it


# -- figures -------------------------------------------------------------------------
def _fmt_count(n: float) -> str:
    return f"{n / 1e6:.3g}M" if n >= 1e5 else f"{n:,.0f}"


def _fmt(x: float) -> str:
    return f"{x:.3g}" if x < 1000 else f"{x:,.0f}"


def accuracy_of(v: Variant, task: str) -> float | None:
    field_name = ACCURACY_METRICS[task][0]
    return v.top1 if field_name == "top1" else v.metrics.get(field_name)


def tier_of_memory_mb(peak_mb: float) -> str:
    """The seeds/000 memory tier a measured GPU memory peak falls in."""
    for tier in MEMORY_TIERS:
        upper = TIER_UPPER_MB[tier]
        if upper is None or peak_mb < upper:
            return tier
    return MEMORY_TIERS[-1]


#: task -> metrics that mark an entry whose accuracy figure is on another benchmark: Keypoint
#: R-CNN's box mAP is on COCO's person class only, not comparable with 80-class detectors
NOT_COMPARABLE: dict[str, tuple[str, ...]] = {"detection": ("kp_map",)}


def candidates_for(catalog: Catalog, task: str) -> list[Variant]:
    """Provided variants that do the task: detectors/segmenters for dense tasks, else classifiers."""
    if task in ("detection", "segmentation"):
        skip = NOT_COMPARABLE.get(task, ())
        return [v for v in catalog if v.provided and v.kind == task and v.supports(task)
                and not any(m in v.metrics for m in skip)]
    return [v for v in catalog if v.provided and v.kind == "classification" and v.supports(task)]


def _hardware_label(hardware: dict[str, Any] | None) -> str:
    if not hardware:
        return "this machine"
    name = hardware.get("gpu_name") or hardware.get("cpu_model") or "unknown hardware"
    return f"{hardware.get('hardware_id', '?')} ({name})"


@dataclass(frozen=True)
class CostModel:
    """How cost is computed: measured/estimated latency, or GMACs when too little is measured.

    Unmeasured models get latency ~= scale * GMACs ** power, fitted by least squares in log-log
    space on this hardware's own measurements: a power law keeps the fixed per-call overhead
    that dominates tiny models from being scaled like the work of big ones.
    """

    basis: str  # latency | gmacs
    scale: float | None = None
    power: float | None = None
    text: str = ""

    def estimate_ms(self, gmacs: float | None) -> float | None:
        if self.scale is None or self.power is None or not gmacs:
            return None
        return self.scale * gmacs ** self.power


def fit_latency(points: list[tuple[float, float]]) -> tuple[float, float]:
    """(scale, power) of latency_ms = scale * gmacs ** power over (gmacs, latency_ms) points."""
    xs = [math.log(g) for g, _ in points]
    ys = [math.log(ms) for _, ms in points]
    if len(set(xs)) < 2:  # one distinct size: proportional scaling through the median ratio
        return statistics.median(ms / g for g, ms in points), 1.0
    power, _ = statistics.linear_regression(xs, ys)
    # noisy or odd measurements can tilt the slope: latency neither falls with work nor grows
    # much faster than it (POWER_RANGE); the intercept is refitted for the clamped slope
    power = min(max(power, POWER_RANGE[0]), POWER_RANGE[1])
    return math.exp(statistics.fmean(ys) - power * statistics.fmean(xs)), power


def _cost_model(pool: list[Candidate], hardware: dict[str, Any] | None) -> CostModel:
    measured = [c for c in pool if c.measurement and c.measurement.get("latency_ms")]
    where = _hardware_label(hardware)
    if measured and len(measured) == len(pool):
        return CostModel("latency", text=f"latency in ms measured on {where} for every model")
    points = [(c.variant.gmacs, float(c.measurement["latency_ms"])) for c in measured if c.variant.gmacs]
    if len(points) >= MIN_FIT_POINTS:
        scale, power = fit_latency(points)
        text = (f"latency in ms: measured on {where} for {len(measured)} of {len(pool)} catalog models; the rest are "
                f"estimates (latency ~= {scale:.3g} x GMACs^{power:.2f}, fitted on {len(points)} measured models)")
        return CostModel("latency", scale, power, text)
    text = ("GMACs at the native input size (an estimate: no latency measured on this hardware; "
            "run `hoot bench` to rank on measured latency)")
    if measured:
        text = (f"GMACs at the native input size (an estimate: only {len(measured)} of {len(pool)} models measured "
                f"on {where}, fewer than {MIN_FIT_POINTS} to estimate the rest)")
    return CostModel("gmacs", text=text)


def _attach_measurements(pool: list[Candidate], measurements: dict[str, dict[str, Any]]) -> None:
    for c in pool:
        m = measurements.get(c.variant.name)
        c.memory_tier = c.variant.memory_tier
        if not m:
            continue
        c.measurement = m
        if m.get("latency_ms"):
            c.latency_ms, c.latency_source = float(m["latency_ms"]), "measured"
        peak = m.get("peak_memory_mb")
        if peak is not None and str(m.get("device", "")).startswith("cuda"):
            c.memory_tier, c.memory_tier_source = tier_of_memory_mb(float(peak)), "measured"


def _apply_cost(pool: list[Candidate], model: CostModel) -> None:
    for c in pool:
        estimate = model.estimate_ms(c.variant.gmacs) if c.latency_ms is None else None
        if estimate is not None:
            c.latency_ms, c.latency_source = estimate, "estimated"
        c.cost = c.latency_ms if model.basis == "latency" else c.variant.gmacs


# -- constraints ---------------------------------------------------------------------
def _at_most(what: str, value: float | None, limit: float, fmt: Callable[[float], str], note: str = "") -> Check:
    if value is None:
        return Check(False, f"{what} unknown (no figure in the catalog){note}", math.inf)
    ok = value <= limit
    sign = "<=" if ok else ">"
    return Check(ok, f"{what} {fmt(value)} {sign} {fmt(limit)}{note}", 0.0 if ok else value / limit - 1)


def _latency_check(limit: float) -> Callable[[Candidate], Check]:
    def test(c: Candidate) -> Check:
        if c.latency_ms is None:
            return Check(False, "latency not measured on this hardware (run `hoot bench`)", math.inf)
        return _at_most("latency", c.latency_ms, limit, lambda x: f"{x:.3g} ms",
                        "" if c.latency_source == "measured" else " (estimated from GMACs)")
    return test


def _memory_check(limit: float) -> Callable[[Candidate], Check]:
    def test(c: Candidate) -> Check:
        m = c.measurement or {}
        if m.get("peak_memory_mb") is not None:
            return _at_most("peak memory", float(m["peak_memory_mb"]), limit, lambda x: f"{x:.0f} MB",
                            f" (measured, {m.get('device', '?')})")
        tier = c.variant.memory_tier
        if tier is None:
            return Check(False, "memory not measured and no memory tier in the catalog", math.inf)
        upper = TIER_UPPER_MB[tier]
        if upper is None:
            return Check(False, f"memory tier {tier} (>16 GB, {TIER_RULE}); not measured", math.inf)
        return _at_most("memory", upper, limit, lambda x: f"{x:.0f} MB",
                        f" (estimate: upper bound of tier {tier}, {TIER_RULE}; not measured)")
    return test


def _size_check(limit: float, what: str = "weights") -> Callable[[Candidate], Check]:
    def test(c: Candidate) -> Check:
        mb, estimated = c.weights_mb
        return _at_most(what, mb, limit, lambda x: f"{x:.3g} MB", " (params x 4 bytes)" if estimated else "")
    return test


def _in_set(what: str, getter: Callable[[Candidate], tuple[str | None, str]], allowed: tuple[str, ...]) -> Callable[[Candidate], Check]:
    def test(c: Candidate) -> Check:
        value, how = getter(c)
        if value is None:  # a judgement the catalog does not make: not a reason to exclude
            return Check(True, f"{what} not judged in the catalog")
        ok = value in allowed
        return Check(ok, f"{what} {value}{how} {'in' if ok else 'not in'} {'/'.join(allowed)}",
                     0.0 if ok else 1.0)
    return test


def _tier(c: Candidate) -> tuple[str | None, str]:
    return c.memory_tier, " (measured)" if c.memory_tier_source == "measured" else ""


def _speed(c: Candidate) -> tuple[str | None, str]:
    return c.variant.speed_class, ""


def _budget_constraint(target: Target, b: Budget) -> Constraint:
    """A target budget as a constraint; the kind picks the figure it limits (a table, not a branch per target)."""
    v = b.value
    makers: dict[str, Callable[[], tuple[str, Callable[[Candidate], Check]]]] = {
        "max_params": lambda: (_fmt_count(v), lambda c: _at_most("params", c.variant.params, v, _fmt_count)),
        "max_gmacs": lambda: (f"{v:g}", lambda c: _at_most("GMACs", c.variant.gmacs, v, _fmt)),
        "max_weights_mb": lambda: (f"{v:g} MB", _size_check(v)),
        "memory_tiers": lambda: ("/".join(v), _in_set("memory tier", _tier, v)),
        "speed_classes": lambda: ("/".join(v), _in_set("speed class", _speed, v)),
    }
    shown, test = makers[b.kind]()
    return Constraint(b.kind, f"target {target.name} {b.kind} {shown}", "target", test, b.source)


def build_constraints(request: Request, target: Target | None) -> list[Constraint]:
    """The hard limits: the user's options, then the target's budgets for this task."""
    r = request
    metric = ACCURACY_METRICS[r.task][0]
    out: list[Constraint] = []
    if r.max_params is not None:
        out.append(Constraint("max_params", f"--max-params {_fmt_count(r.max_params)}", "user",
                              lambda c: _at_most("params", c.variant.params, r.max_params, _fmt_count)))
    if r.max_gmacs is not None:
        out.append(Constraint("max_gmacs", f"--max-gmacs {r.max_gmacs:g}", "user",
                              lambda c: _at_most("GMACs", c.variant.gmacs, r.max_gmacs, _fmt)))
    if r.max_size_mb is not None:
        out.append(Constraint("max_size_mb", f"--max-size-mb {r.max_size_mb:g}", "user", _size_check(r.max_size_mb)))
    if r.max_memory_mb is not None:
        out.append(Constraint("max_memory_mb", f"--max-memory-mb {r.max_memory_mb:g}", "user", _memory_check(r.max_memory_mb)))
    if r.max_latency_ms is not None:
        out.append(Constraint("max_latency_ms", f"--max-latency-ms {r.max_latency_ms:g}", "user", _latency_check(r.max_latency_ms)))
    if r.min_top1 is not None:
        def at_least(c: Candidate) -> Check:
            if c.accuracy is None:
                return Check(False, f"{metric} unknown", math.inf)
            ok = c.accuracy >= r.min_top1
            return Check(ok, f"{metric} {c.accuracy:.3g} {'>=' if ok else '<'} {r.min_top1:g}",
                         0.0 if ok else (r.min_top1 - c.accuracy) / max(r.min_top1, 1e-9))
        out.append(Constraint("min_top1", f"--min-top1 {r.min_top1:g} ({metric})", "user", at_least))
    if target is not None:
        out.extend(_budget_constraint(target, b) for b in target.budgets_for(r.task))
    return out


# -- ranking -------------------------------------------------------------------------
def _dominates(a: Candidate, b: Candidate) -> bool:
    return (a.accuracy >= b.accuracy and a.cost <= b.cost) and (a.accuracy > b.accuracy or a.cost < b.cost)


def pareto_layers(pool: list[Candidate]) -> list[list[Candidate]]:
    """Non-dominated sorting on (accuracy up, cost down): layer 1 is the Pareto front.
    Candidates lacking an accuracy or a cost go in a last layer of their own."""
    rankable = [c for c in pool if c.accuracy is not None and c.cost is not None]
    rest = [c for c in pool if c not in rankable]
    layers = []
    while rankable:
        front = [c for c in rankable if not any(_dominates(o, c) for o in rankable if o is not c)]
        layers.append(front)
        rankable = [c for c in rankable if c not in front]
    if rest:
        layers.append(rest)
    return layers


def _normalise(values: list[float], value: float, log: bool = False) -> float:
    f = math.log if log else (lambda x: x)
    lo, hi = f(min(values)), f(max(values))
    return 1.0 if hi == lo else (f(value) - lo) / (hi - lo)


def _dataset_fit(c: Candidate, request: Request) -> tuple[float | None, list[str]]:
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


def _score(c: Candidate, pool: list[Candidate], weights: Ranking, role_bonus: float, fit: float | None) -> float:
    accs = [p.accuracy for p in pool if p.accuracy is not None]
    costs = [p.cost for p in pool if p.cost is not None and p.cost > 0]
    acc_n = _normalise(accs, c.accuracy) if c.accuracy is not None and accs else 0.0
    cost_n = 1.0 - _normalise(costs, c.cost, log=True) if c.cost and costs else 0.0
    return (weights.accuracy * acc_n + weights.cost * cost_n + weights.document * role_bonus
            + weights.dataset_fit * (0.5 if fit is None else fit))


# -- the recommender -----------------------------------------------------------------
def _evaluate(pool: list[Candidate], constraints: list[Constraint]) -> dict[str, list[Check]]:
    return {c.variant.name: [k.test(c) for k in constraints] for c in pool}


class NoModelFits(NoAnswer):
    """Nothing satisfies the constraints; `advice` is the empty ranking `--explain` reads."""

    def __init__(self, message: str, details: dict[str, Any], advice: "Advice") -> None:
        super().__init__(message, details)
        self.advice = advice


def _no_answer(request: Request, target: Target | None, pool: list[Candidate], constraints: list[Constraint],
               checks: dict[str, list[Check]], mentions: list[dict[str, str]], advice: "Advice") -> NoModelFits:
    """Name the binding constraint (whose removal admits most models) and the nearest models."""
    admitted = []
    for i, k in enumerate(constraints):
        n = sum(all(ch.ok for j, ch in enumerate(checks[c.variant.name]) if j != i) for c in pool)
        admitted.append((n, k.origin == "user", -i, k))
    n_best, _, _, binding = max(admitted, key=lambda t: t[:3])
    if n_best:
        why = f"binding constraint: {binding.label}" + (f" ({binding.source})" if binding.source else "")
        why += f"; without it {n_best} model{'s' if n_best != 1 else ''} qualify"
    else:
        fails = sorted(((sum(not checks[c.variant.name][i].ok for c in pool), k.label) for i, k in enumerate(constraints)),
                       reverse=True)
        binding = next(k for k in constraints if k.label == fails[0][1])
        why = (f"no single constraint binds: {fails[0][1]} rejects {fails[0][0]} and {fails[1][1]} rejects "
               f"{fails[1][0]} of {len(pool)}" if len(fails) > 1 else f"{fails[0][1]} rejects all {len(pool)}")

    def distance(c: Candidate) -> tuple[int, float]:
        failed = [ch for ch in checks[c.variant.name] if not ch.ok]
        return len(failed), sum(min(ch.excess, 1e6) for ch in failed)

    nearest = sorted(pool, key=distance)[:3]
    near_text = "; ".join(
        f"{c.variant.name} ({', '.join(ch.text for ch in checks[c.variant.name] if not ch.ok)})" for c in nearest)
    where = f"task {request.task}" + (f", target {target.name}" if target else "")
    msg = f"no model satisfies the constraints ({where}): {why}. Nearest: {near_text}"
    if mentions:
        msg += ". Not in torchvision: " + "; ".join(f"{m['name']} ({m['source']})" for m in mentions)
    return NoModelFits(msg, details={
        "binding_constraint": binding.label,
        "binding_source": binding.source,
        "admitted_without_it": n_best,
        "nearest": [{"name": c.variant.name, "fails": [ch.text for ch in checks[c.variant.name] if not ch.ok]}
                    for c in nearest],
        "not_in_torchvision": mentions,
    }, advice=advice)


def _mentions(book: TargetBook, target: Target | None, catalog: Catalog, task: str) -> list[dict[str, str]]:
    """Models the documents name for this task (and target) that torchvision lacks: said, never picked."""
    def key(text: str) -> str:
        return "".join(ch for ch in text.lower() if ch.isalnum())

    out = [{"name": m.name, "source": m.source} for m in book.mentions_for(target, task)]
    seen = [key(m["name"]) for m in out]
    for v in catalog:
        if v.provided or not v.supports(task):
            continue
        if target is not None and target.name not in v.targets:
            continue
        names = {key(v.display_name), key(v.name)}
        if any(n and (n in s or s in n) for n in names for s in seen):
            continue
        src = ", ".join(f"seeds/{s[:3]}" for s in v.sources) or "catalog"
        out.append({"name": v.display_name, "source": f"catalog entry '{v.name}' ({src})"})
        seen.append(key(v.display_name))
    return out


def _pareto_reason(c: Candidate, layer: int, layers: list[list[Candidate]]) -> str:
    if layer == 1:
        return "Pareto front: no other survivor is both at least as accurate and cheaper"
    if c.accuracy is None or c.cost is None:
        return f"Pareto layer {layer}: no accuracy or cost figure to rank on"
    better = next((o for o in layers[layer - 2] if _dominates(o, c)), None)
    return f"Pareto layer {layer}" + (f": {better.variant.name} is at least as accurate and cheaper" if better else "")


def _cite(source: str | None) -> str:
    """' [seeds/000, seeds/002]': the documents behind a budget, short enough for a reason line."""
    refs = list(dict.fromkeys(_SEED_REF.findall(source or "")))
    return f" [{', '.join(refs)}]" if refs else ""


def _reasons(c: Candidate, layer: int, layers: list[list[Candidate]], checks: list[Check], constraints: list[Constraint],
             request: Request, target: Target | None, role: Any, hardware: dict[str, Any] | None,
             fit_reasons: list[str]) -> list[str]:
    v = c.variant
    metric, metric_label = ACCURACY_METRICS[request.task]
    acc = "no accuracy figure" if c.accuracy is None else f"{metric} {c.accuracy:.4g} ({metric_label})"
    figures = [acc]
    if v.gmacs is not None:
        figures.append(f"{v.gmacs:.3g} GMACs")
    if v.params is not None:
        figures.append(f"{_fmt_count(v.params)} params")
    if v.crop_size:
        figures.append(f"{v.crop_size} px input")
    out = [", ".join(figures)]
    out.append(_pareto_reason(c, layer, layers))
    if c.latency_source == "measured":
        m = c.measurement or {}
        out.append(f"latency {c.latency_ms:.3g} ms measured on {_hardware_label(hardware)} "
                   f"({m.get('device', '?')}, {m.get('dtype', '?')}, batch {m.get('batch_size', 1)}, {m.get('input_size', '?')} px)")
    elif c.latency_source == "estimated":
        out.append(f"latency ~{c.latency_ms:.3g} ms is an estimate from GMACs (not measured on this hardware)")
    else:
        out.append("cost is an estimate: GMACs, no latency measured on this hardware")
    if role is not None:
        out.append(f"named by the documents ({role.role.replace('_', ' ')}): {role.source}")
    if c.memory_tier_source == "measured":
        peak = (c.measurement or {}).get("peak_memory_mb")
        out.append(f"memory tier {c.memory_tier} from the measured GPU peak {peak:.0f} MB "
                   f"(catalog judgement: {v.memory_tier}; {TIER_RULE})")
    passed = [ch.text + _cite(k.source) for ch, k in zip(checks, constraints) if ch.ok]
    if passed:
        out.append("meets " + ("target " + target.name + " budgets and " if target else "") + "limits: " + "; ".join(passed))
    out.extend(fit_reasons)
    return out


def _check_table(constraints: list[Constraint], checks: dict[str, list[Check]]) -> dict[str, list[tuple[str, bool, str]]]:
    return {name: [(k.label, ch.ok, ch.text) for k, ch in zip(constraints, found)] for name, found in checks.items()}


def explain(advice: Advice, name: str, catalog: Catalog | None = None) -> list[str]:
    """Why `name` is ranked where it is, or which constraints keep it out (for --explain)."""
    catalog = catalog if catalog is not None else load_catalog()
    v = catalog.get(name)  # HootError with near matches for an unknown name
    task = advice.request.task
    if not v.provided:
        return [f"{name}: not in torchvision (catalog entry marked provided: false); hoot never picks it"]
    if name not in advice.checks:
        return [f"{name}: does not do task '{task}' (a {v.kind} model); try --task {v.kind}"]
    if name in advice.survivors:
        rank = advice.survivors.index(name) + 1
        shown = next((p for p in advice.picks if p.variant.name == name), None)
        lines = [f"{name}: meets every constraint, ranked {rank} of {len(advice.survivors)}"
                 + ("" if shown else f" (outside --top {advice.request.top_k})")]
        return lines + [f"  - {advice.standing[name]}"] + [f"  - {text}" for _, _, text in advice.checks[name]]
    failed = [(label, text) for label, ok, text in advice.checks[name] if not ok]
    return [f"{name}: excluded by {len(failed)} constraint(s)"] + [f"  - {label}: {text}" for label, text in failed]


def recommend(
    request: Request,
    catalog: Catalog | None = None,
    book: TargetBook | None = None,
    measurements: dict[str, dict[str, Any]] | None = None,
    hardware: dict[str, Any] | None = None,
) -> Advice:
    """Rank the catalog for `request`; raise NoAnswer (exit 1) when nothing satisfies it."""
    catalog = catalog if catalog is not None else load_catalog()
    book = book if book is not None else load_targets()
    request.validate(book)
    target = book.get(request.target) if request.target else None
    variants = candidates_for(catalog, request.task)
    if not variants:
        raise NoAnswer(f"no provided catalog model supports task '{request.task}'")
    pool = [Candidate(v, accuracy_of(v, request.task)) for v in variants]
    _attach_measurements(pool, measurements or {})
    model = _cost_model(pool, hardware)
    _apply_cost(pool, model)
    constraints = build_constraints(request, target)
    checks = _evaluate(pool, constraints)
    mentions = _mentions(book, target, catalog, request.task)
    survivors = [c for c in pool if all(ch.ok for ch in checks[c.variant.name])]
    if not survivors:
        empty = Advice(request=request, target=target, picks=[], survivors=[], n_candidates=len(pool), excluded={},
                       cost_basis=model.text, estimated=True, hardware=hardware, measured=0, mentions=mentions,
                       checks=_check_table(constraints, checks))
        raise _no_answer(request, target, pool, constraints, checks, mentions, empty)
    weights = target.ranking if target else book.default_ranking
    roles = book.roles_for(target, request.task)
    layers = pareto_layers(survivors)
    scored = []
    for layer_no, layer in enumerate(layers, start=1):
        for c in layer:
            fit, fit_reasons = _dataset_fit(c, request)
            role = roles.get(c.variant.name)
            bonus = book.roles[role.role] if role else 0.0
            scored.append((layer_no, -_score(c, survivors, weights, bonus, fit), c.variant.name, c, role, fit_reasons))
    scored.sort(key=lambda t: t[:3])
    picks = []
    for rank, (layer_no, neg_score, _, c, role, fit_reasons) in enumerate(scored[: request.top_k], start=1):
        reasons = _reasons(c, layer_no, layers, checks[c.variant.name], constraints, request, target, role, hardware,
                           fit_reasons)
        picks.append(Pick(rank, c, layer_no, round(-neg_score, 4), reasons))
    excluded = {k.label: sum(not checks[c.variant.name][i].ok for c in pool) for i, k in enumerate(constraints)}
    notes = []
    if request.task == "multilabel":
        notes.append("multilabel: accuracy is the single-label ImageNet top-1 of the backbone, a proxy; "
                     "the head becomes sigmoid outputs (seeds/000 task support)")
    unmeasured = [p.variant.name for p in picks if p.candidate.latency_source != "measured"]
    if measurements and unmeasured:
        notes.append(f"not measured on {_hardware_label(hardware)}: {', '.join(unmeasured)} (their cost is an estimate)")
    return Advice(
        request=request,
        target=target,
        picks=picks,
        survivors=[t[2] for t in scored],
        n_candidates=len(pool),
        excluded=excluded,
        checks=_check_table(constraints, checks),
        standing={t[2]: _pareto_reason(t[3], t[0], layers) for t in scored},
        cost_basis=model.text,
        estimated=any(p.candidate.latency_source != "measured" for p in picks),
        hardware=hardware,
        measured=sum(c.latency_source == "measured" for c in survivors),
        mentions=mentions,
        after_selection=list(target.after_selection) if target else [],
        notes=notes,
    )
