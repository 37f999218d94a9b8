"""The recommender: hard constraints filter the catalog, survivors are ranked on accuracy
against cost (the Pareto front first), and every pick carries the reasons that put it there.

Cost comes from the stored measurements of ONE setting (device, precision, batch, input size,
threads, runtime) that the caller names; a model without a measurement gets a latency
estimate only inside the measured GMACs range (`costs`), and an estimate never satisfies a
hard limit (`constraints`). Memory is compared like with like: inference peaks for
deployment, training peaks (or the documents' training-memory tiers) for training. A
target's budgets and ranking weights come from `advisor/recommender/targets.yaml`; nothing here branches
on a target's name. The jobs live in `costs`, `constraints`, `ranking` and `explanation`;
this module joins them. No torch import.
"""

from __future__ import annotations

from typing import Any, Mapping

from hoot.advisor.recommender.advice import (  # noqa: F401  (re-exported: the recommender's public names)
    ACCURACY_METRICS,
    BYTES_PER_PARAM_FP32,
    Advice,
    Candidate,
    Pick,
    Request,
)
from hoot.advisor.catalog import Catalog, Variant, load_catalog
from hoot.advisor.recommender.constraints import (  # noqa: F401  (re-exported: the recommender's public names)
    TIER_RULE,
    TIER_UPPER_MB,
    Check,
    Constraint,
    build_constraints,
    tier_of_memory_mb,
)
from hoot.advisor.recommender.costs import CostModel, MeasuredCost, as_cost, build_cost_model, fit_latency  # noqa: F401
from hoot.advisor.errors import NoAnswer
from hoot.advisor.recommender.explanation import (  # noqa: F401
    NoModelFits,
    RuntimeSpeedup,
    explain,
    hardware_label,
    mentions,
    no_answer,
    reasons,
    speedup_lines,
)
from hoot.advisor.recommender.ranking import dataset_fit, pareto_layers, pareto_reason, score
from hoot.advisor.recommender.targets import TargetBook, load_targets

__all__ = ["ACCURACY_METRICS", "BYTES_PER_PARAM_FP32", "Advice", "Candidate", "Check", "Constraint", "CostModel",
           "MeasuredCost", "NoModelFits", "Pick", "Request", "RuntimeSpeedup", "TIER_RULE", "TIER_UPPER_MB",
           "accuracy_of", "build_constraints", "candidates_for", "explain", "fit_latency", "pareto_layers",
           "recommend", "tier_of_memory_mb"]

#: task -> metrics that mark an entry whose accuracy figure is on another benchmark: Keypoint
#: R-CNN's box mAP is on COCO's person class only, not comparable with 80-class detectors
NOT_COMPARABLE: dict[str, tuple[str, ...]] = {"detection": ("kp_map",)}


def accuracy_of(v: Variant, task: str) -> float | None:
    field_name = ACCURACY_METRICS[task][0]
    return v.top1 if field_name == "top1" else v.metrics.get(field_name)


def candidates_for(catalog: Catalog, task: str) -> list[Variant]:
    """Provided variants that do the task: detectors/segmenters for dense tasks, else classifiers."""
    if task in ("detection", "segmentation"):
        skip = NOT_COMPARABLE.get(task, ())
        return [v for v in catalog if v.provided and v.kind == task and v.supports(task)
                and not any(m in v.metrics for m in skip)]
    return [v for v in catalog if v.provided and v.kind == "classification" and v.supports(task)]


def _attach(pool: list[Candidate], rows: Mapping[str, Any], train_rows: Mapping[str, Any]) -> None:
    """Measured figures onto candidates; only a GPU *training* peak turns a memory tier into a fact."""
    for c in pool:
        c.memory_tier = c.variant.memory_tier
        row = rows.get(c.variant.name)
        if row is not None:
            c.measurement = as_cost(row)
            if c.measurement.mode == "train":  # a training row read as latency would mix modes
                c.measurement = None
            elif c.measurement.latency_ms:
                c.latency_ms, c.latency_source = c.measurement.latency_ms, "measured"
        train = train_rows.get(c.variant.name)
        if train is not None:
            c.train_measurement = as_cost(train)
            m = c.train_measurement
            if m.mode == "train" and m.on_gpu and m.peak_memory_mb is not None:
                c.memory_tier, c.memory_tier_source = tier_of_memory_mb(m.peak_memory_mb), "measured"


def _estimate(pool: list[Candidate], where: str) -> CostModel:
    """Fit on the measured models; give the others an estimate where their GMACs lie inside the range."""
    measured = [c for c in pool if c.latency_source == "measured"]
    rest = [c for c in pool if c.latency_source != "measured"]
    model = build_cost_model([(c.variant.gmacs, c.latency_ms) for c in measured], [c.variant.gmacs for c in rest], where)
    for c in rest:
        found = model.estimate(c.variant.gmacs)
        if found is not None:
            c.latency_ms, c.latency_source = found.latency_ms, "estimated"
            c.latency_interval = (found.low_ms, found.high_ms)
    return model


def _apply_cost(survivors: list[Candidate], model: CostModel, where: str) -> CostModel:
    """One unit for the ranking: latency when every survivor has a measured or grounded figure, else GMACs."""
    measured = [c for c in survivors if c.latency_source == "measured"]
    rest = [c for c in survivors if c.latency_source != "measured"]
    if model.scale is not None:
        model = build_cost_model([(c.variant.gmacs, c.latency_ms) for c in measured],
                                 [c.variant.gmacs for c in rest], where, fitted=model)
    else:
        model = build_cost_model([(c.variant.gmacs, c.latency_ms) for c in measured], [c.variant.gmacs for c in rest],
                                 where)
    for c in survivors:
        c.cost = c.latency_ms if model.basis == "latency" else c.variant.gmacs
    return model


def _evaluate(pool: list[Candidate], constraints: list[Constraint]) -> dict[str, list[Check]]:
    return {c.variant.name: [k.test(c) for k in constraints] for c in pool}


def _check_table(constraints: list[Constraint], checks: dict[str, list[Check]]) -> dict[str, list[tuple[str, bool, str]]]:
    return {name: [(k.label, ch.ok, ch.text) for k, ch in zip(constraints, found)] for name, found in checks.items()}


def recommend(
    request: Request,
    catalog: Catalog | None = None,
    book: TargetBook | None = None,
    measurements: Mapping[str, Any] | None = None,
    hardware: dict[str, Any] | None = None,
    *,
    setting: str | None = None,
    train_measurements: Mapping[str, Any] | None = None,
    speedups: list[RuntimeSpeedup] | None = None,
) -> Advice:
    """Rank the catalog for `request`; raise NoAnswer (exit 1) when nothing satisfies it.

    `measurements`: variant -> the figures of its row in ONE setting (a MeasuredCost, or any
    object/dict with latency_ms, peak_memory_mb, converged, ...), `setting` that setting's label;
    `train_measurements`: training rows (memory); `speedups`: measured runtime speed-ups.
    """
    catalog = catalog if catalog is not None else load_catalog()
    book = book if book is not None else load_targets()
    request.validate(book)
    target = book.get(request.target) if request.target else None
    memory = request.memory or (target.measure.memory if target else book.default_measure.memory)
    from dataclasses import replace

    request = replace(request, memory=memory)
    variants = candidates_for(catalog, request.task)
    if not variants:
        raise NoAnswer(f"no provided catalog model supports task '{request.task}'")
    pool = [Candidate(v, accuracy_of(v, request.task)) for v in variants]
    _attach(pool, measurements or {}, train_measurements or {})
    where = hardware_label(hardware) + (f", {setting}" if setting else "")
    model = _estimate(pool, where)
    constraints = build_constraints(request, target)
    checks = _evaluate(pool, constraints)
    found = mentions(book, target, catalog, request.task)
    unit = "ms" if model.basis == "latency" else "GMACs"
    survivors = [c for c in pool if all(ch.ok for ch in checks[c.variant.name])]
    if not survivors:
        empty = Advice(request=request, target=target, picks=[], survivors=[], n_candidates=len(pool), excluded={},
                       cost_basis=model.text, cost_unit=unit, estimated=True, hardware=hardware, measured=0,
                       setting=setting, memory=memory, mentions=found, checks=_check_table(constraints, checks))
        raise no_answer(request, target, pool, constraints, checks, found, empty)
    model = _apply_cost(survivors, model, where)
    unit = "ms" if model.basis == "latency" else "GMACs"
    weights = target.ranking if target else book.default_ranking
    roles = book.roles_for(target, request.task)
    # one Pareto layer below is worth more than any score inside a layer, so the score orders the table
    span = weights.accuracy + weights.cost + weights.document * max(book.roles.values(), default=0) + weights.dataset_fit
    layers = pareto_layers(survivors)
    scored = []
    for layer_no, layer in enumerate(layers, start=1):
        for c in layer:
            fit, fit_reasons = dataset_fit(c, request)
            role = roles.get(c.variant.name)
            bonus = book.roles[role.role] if role else 0.0
            total = score(c, survivors, weights, bonus, fit) - (layer_no - 1) * (span + 1)
            scored.append((-round(total, 4), c.variant.name, layer_no, c, role, fit_reasons))
    scored.sort(key=lambda t: t[:2])
    picks = []
    for rank, (neg_score, _, layer_no, c, role, fit_reasons) in enumerate(scored[: request.top_k], start=1):
        why = reasons(c, layer_no, layers, checks[c.variant.name], constraints, request, target, role, where, fit_reasons)
        picks.append(Pick(rank, c, layer_no, -neg_score, why))
    excluded = {k.label: sum(not checks[c.variant.name][i].ok for c in pool) for i, k in enumerate(constraints)}
    notes = []
    if request.task == "multilabel":
        notes.append("multilabel: accuracy is the single-label ImageNet top-1 of the backbone, a proxy; "
                     "the head becomes sigmoid outputs (seeds/000 task support)")
    n_measured = sum(c.latency_source == "measured" for c in survivors)
    n_estimated = sum(c.latency_source == "estimated" for c in survivors)
    unconverged = [c.variant.name for c in survivors if c.measurement is not None and c.measurement.converged is False]
    notes.append(f"figures: {n_measured} of {len(survivors)} survivors measured, {n_estimated} estimated, "
                 f"{len(survivors) - n_measured - n_estimated} without a latency figure")
    contended = [c.variant.name for c in survivors if c.measurement is not None and c.measurement.contended]
    if contended:
        notes.append(f"contended: {len(contended)} latency figure(s) were timed while other processes held the "
                     f"cores or the GPU, and the ranking uses them: {', '.join(contended[:10])}"
                     + (" ..." if len(contended) > 10 else "") + " (rerun `hoot bench` on a quiet machine: a "
                     "re-run measures contended rows again)")
    unfolded = [c.variant.name for c in survivors if c.measurement is not None and c.measurement.unfolded]
    if unfolded:
        notes.append(f"unfolded: {len(unfolded)} latency figure(s) were timed in the training form, before hoot "
                     f"folded their train-time branches, and run slower than the network ships: {', '.join(unfolded[:10])}"
                     " (rerun `hoot bench`: a re-run measures them again)")
    if unconverged:
        notes.append(f"timing did not converge for {len(unconverged)}: {', '.join(unconverged[:10])}"
                     + (" ..." if len(unconverged) > 10 else "") + " (noisy figures; rerun `hoot bench` on a quiet machine)")
    after = list(target.after_selection) if target else []
    if speedups:
        after = speedup_lines(speedups, [p.variant.name for p in picks]) + after
    return Advice(
        request=request,
        target=target,
        picks=picks,
        survivors=[t[1] for t in scored],
        n_candidates=len(pool),
        excluded=excluded,
        checks=_check_table(constraints, checks),
        standing={t[1]: pareto_reason(t[3], t[2], layers) for t in scored},
        cost_basis=model.text,
        cost_unit=unit,
        estimated=any(p.candidate.latency_source != "measured" for p in picks),
        hardware=hardware,
        measured=n_measured,
        setting=setting,
        memory=memory,
        n_estimated=n_estimated,
        unconverged=unconverged,
        contended=contended,
        mentions=found,
        after_selection=after,
        notes=notes,
    )
