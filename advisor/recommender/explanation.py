"""Why a pick is where it is: reason lines, the no-answer message, `--explain`, the models the
documents name that torchvision lacks, and the after-selection advice with measured speed-ups.
No torch import.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hoot.advisor.recommender.constraints import TIER_RULE, Check, Constraint, fmt_count
from hoot.advisor.errors import NoAnswer
from hoot.advisor.recommender.ranking import dominates, pareto_reason

if TYPE_CHECKING:
    from hoot.advisor.catalog import Catalog
    from hoot.advisor.recommender.advice import Advice, Candidate, Request
    from hoot.advisor.recommender.targets import Target, TargetBook

_SEED_REF = re.compile(r"seeds/\d{3}")


@dataclass(frozen=True)
class RuntimeSpeedup:
    """A measured speed-up of one runtime against eager PyTorch in the same setting, for one model."""

    variant: str
    runtime: str  # onnxruntime | int8 | compile | cuda_graph
    eager_ms: float
    runtime_ms: float
    setting: str  # the label of the setting both were measured in

    @property
    def ratio(self) -> float:
        return self.eager_ms / self.runtime_ms


def speedup_lines(speedups: list[RuntimeSpeedup], picks: list[str]) -> list[str]:
    """One line per runtime: the measured eager/runtime ratios, picks first (replaces a quoted range)."""
    out = []
    for runtime in sorted({s.runtime for s in speedups}):
        rows = sorted((s for s in speedups if s.runtime == runtime),
                      key=lambda s: (s.variant not in picks, picks.index(s.variant) if s.variant in picks else 0,
                                     s.variant))
        shown = "; ".join(f"{s.variant} {s.ratio:.2f}x ({s.eager_ms:.3g} -> {s.runtime_ms:.3g} ms)" for s in rows[:5])
        more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
        ratios = sorted(s.ratio for s in rows)
        span = f"{ratios[0]:.2f}-{ratios[-1]:.2f}x" if len(ratios) > 1 else f"{ratios[0]:.2f}x"
        out.append(f"measured {runtime} speed-up against eager on this hardware ({rows[0].setting}): {span} over "
                   f"{len(rows)} model{'s' if len(rows) != 1 else ''}: {shown}{more}")
    return out


def cite(source: str | None) -> str:
    """' [seeds/000, seeds/002]': the documents behind a budget, short enough for a reason line."""
    refs = list(dict.fromkeys(_SEED_REF.findall(source or "")))
    return f" [{', '.join(refs)}]" if refs else ""


def hardware_label(hardware: dict[str, Any] | None) -> str:
    if not hardware:
        return "this machine"
    name = hardware.get("gpu_name") or hardware.get("cpu_model") or "unknown hardware"
    return f"{hardware.get('hardware_id', '?')} ({name})"


def reasons(c: "Candidate", layer: int, layers: list[list["Candidate"]], checks: list[Check],
            constraints: list[Constraint], request: "Request", target: "Target | None", role: Any,
            where: str, fit_reasons: list[str]) -> list[str]:
    from hoot.advisor.recommender.advice import ACCURACY_METRICS

    v = c.variant
    metric, metric_label = ACCURACY_METRICS[request.task]
    acc = "no accuracy figure" if c.accuracy is None else f"{metric} {c.accuracy:.4g} ({metric_label})"
    figures = [acc]
    if v.gmacs is not None:
        figures.append(f"{v.gmacs:.3g} GMACs")
    if v.params is not None:
        figures.append(f"{fmt_count(v.params)} params")
    if v.crop_size:
        figures.append(f"{v.crop_size} px input")
    out = [", ".join(figures), pareto_reason(c, layer, layers)]
    if c.latency_source == "measured":
        m = c.measurement
        settled = "" if m is None or m.converged is not False else "; the timing did not converge (a noisy figure)"
        quick = " (quick: a --quick row, the only figure for this model in this setting)" if getattr(m, "quick", False) else ""
        out.append(f"latency {c.latency_ms:.3g} ms measured on {where}{quick}{settled}")
    elif c.latency_source == "estimated":
        lo, hi = c.latency_interval
        out.append(f"latency ~{c.latency_ms:.3g} ms (interval {lo:.3g}-{hi:.3g} ms) is an estimate from GMACs inside "
                   "the measured range (not measured in this setting; never enough for a latency limit)")
    else:
        out.append("cost is an estimate: GMACs (no latency measured in this setting, or outside the measured range)")
    if role is not None:
        out.append(f"named by the documents ({role.role.replace('_', ' ')}): {role.source}")
    if c.memory_tier_source == "measured":
        peak = c.train_measurement.peak_memory_mb
        out.append(f"memory tier {c.memory_tier} from the measured GPU training peak {peak:.0f} MB "
                   f"(catalog judgement: {v.memory_tier}; {TIER_RULE})")
    passed = [ch.text + cite(k.source) for ch, k in zip(checks, constraints) if ch.ok]
    if passed:
        out.append("meets " + ("target " + target.name + " budgets and " if target else "") + "limits: " + "; ".join(passed))
    out.extend(fit_reasons)
    return out


class NoModelFits(NoAnswer):
    """Nothing satisfies the constraints; `advice` is the empty ranking `--explain` reads."""

    def __init__(self, message: str, details: dict[str, Any], advice: "Advice") -> None:
        super().__init__(message, details)
        self.advice = advice


def no_answer(request: "Request", target: "Target | None", pool: list["Candidate"], constraints: list[Constraint],
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

    def distance(c: "Candidate") -> tuple[int, float]:
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


def mentions(book: "TargetBook", target: "Target | None", catalog: "Catalog", task: str) -> list[dict[str, str]]:
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


def explain(advice: "Advice", name: str, catalog: "Catalog | None" = None) -> list[str]:
    """Why `name` is ranked where it is, or which constraints keep it out (for --explain)."""
    from hoot.advisor.catalog import load_catalog

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


__all__ = ["RuntimeSpeedup", "speedup_lines", "cite", "hardware_label", "reasons", "NoModelFits", "no_answer",
           "mentions", "explain", "dominates"]
