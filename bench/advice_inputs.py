"""What advice ranks on, read from the results store: the rows of ONE setting, training rows for
memory, and measured runtime speed-ups, turned into the advisor's plain records.

The one loader of measurements for advice: `hoot advise` and the shortlist's candidate
picking both call `advice_inputs`, so the same limits and target rank on the same rows in
both commands. The recommender never imports the measurement layer; this module is the place
that reads `hoot.bench.advice_rows` and copies figures into
`hoot.advisor.recommender.costs.MeasuredCost` and `hoot.advisor.recommender.explanation.RuntimeSpeedup`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from hoot.advisor.recommender.costs import MeasuredCost, as_cost
from hoot.bench.advice_rows import load_measurements
from hoot.advisor.recommender.explanation import RuntimeSpeedup
from hoot.advisor.recommender.settings import SettingWish, choose_setting, train_setting
from hoot.advisor.recommender.targets import MeasureDefaults, TargetBook

#: runtimes whose measured speed-up against eager the after-selection advice names (issue 13.4)
SPEEDUP_RUNTIMES = ("onnxruntime", "int8", "compile", "cuda_graph", "executorch", "litert", "openvino")


@dataclass
class AdviseInputs:
    """Everything advise ranks on, already reduced to one setting."""

    hardware: dict[str, Any] | None
    setting_label: str
    costs: dict[str, MeasuredCost]
    train_costs: dict[str, MeasuredCost] = field(default_factory=dict)
    train_label: str | None = None
    speedups: list[RuntimeSpeedup] = field(default_factory=list)
    note: str | None = None


def advice_inputs(db: str | None, hardware: str, wish: SettingWish, book: TargetBook, target: str | None,
                  task: str, memory: str | None = None) -> AdviseInputs:
    """The inputs for a ranking of `task` for `target` (None: no target): the user's setting wish
    over the target's measuring defaults, plus training rows where the memory rule compares
    training memory (`memory`, else the target's; or the target budgets memory tiers)."""
    defaults = book.get(target).measure if target else book.default_measure
    need_train = (memory or defaults.memory) == "train" or bool(target and any(
        b.kind == "memory_tiers" for b in book.get(target).budgets_for(task)))
    return load_inputs(db, hardware, wish, defaults, need_train)


def _available(found: Any) -> list[Any]:
    return ([found.setting] if found.setting is not None else []) + list(found.other_settings)


def load_inputs(db: str | None, hardware: str, wish: SettingWish, defaults: MeasureDefaults,
                need_train: bool) -> AdviseInputs:
    """Pick the setting (the user's options over the target's defaults) and read its rows."""
    from hoot.bench.records import Setting

    first = load_measurements(db, hardware, None)
    available = _available(first)
    fields, relaxed = choose_setting(wish, defaults, available)
    wanted = Setting(**fields)
    found = first if first.setting == wanted else load_measurements(db, hardware, wanted)
    costs = {name: as_cost(m) for name, m in found.rows.items() if m.latency_ms is not None or m.peak_memory_mb}
    quick_only = _quick_only_costs(db, hardware, found.setting or wanted, available, costs)
    costs.update(quick_only)
    note = found.note
    if relaxed:  # the rows' own note (not converged, contended) stays beside it
        note = "; ".join(n for n in (
            f"nothing stored in the target's default setting ({defaults.rule.split(':')[0]}: "
            f"{defaults.dtype}, batch {defaults.batch_size}); ranking on {wanted.label()}, the closest stored",
            found.note if found.setting is not None else None) if n)
    if wish.runtime is None and wanted.runtime == "eager" and defaults.runtimes[0] != "eager":
        ondevice = ", ".join(defaults.runtimes[:-1])
        note = "; ".join(filter(None, [note, f"no {ondevice} rows stored for this hardware: latency is eager PyTorch's, "
                                             f"not an on-device runtime's (hoot bench --runtime {defaults.runtimes[0]})"]))
    label = (found.setting or wanted).label()
    inputs = AdviseInputs(found.hardware or first.hardware, label, costs, note=note)
    if not costs and available and note is None:
        stored = ", ".join(s.label() for s in available[:4])
        inputs.note = (f"nothing stored in {wanted.label()} for this hardware: costs are estimates; "
                       f"stored settings: {stored} (pick one with --device/--dtype/--batch-size/--runtime)")
    if quick_only:
        said = f"{len(quick_only)} model(s) have only --quick figures in {wanted.label()}: used, marked 'quick'"
        inputs.note = f"{inputs.note}; {said}" if inputs.note else said
    train = train_setting(dataclasses.asdict(wanted), available) if need_train else None
    if train is not None:
        rows = load_measurements(db, hardware, train).rows
        inputs.train_costs = {n: as_cost(m) for n, m in rows.items() if m.peak_memory_mb is not None}
        inputs.train_label = train.label()
    inputs.speedups = _speedups(db, hardware, found.setting or wanted, available)
    return inputs


def _quick_only_costs(db: str | None, hardware: str, ranking: Any, available: list[Any],
                      costs: dict[str, MeasuredCost]) -> dict[str, MeasuredCost]:
    """The --quick rows of the ranking's setting for models with no full-budget figure in it: after
    `hoot bench --all --quick` they are the only figures of (say) every detection model, and advice
    must not say "0 measured" because a full row of another model exists."""
    if getattr(ranking, "quick", False):
        return {}
    twin = dataclasses.replace(ranking, quick=True)
    if twin not in available:
        return {}
    rows = load_measurements(db, hardware, twin).rows
    return {name: as_cost(m) for name, m in rows.items()
            if name not in costs and m.status == "ok" and m.latency_ms is not None}


def _speedups(db: str | None, hardware: str, ranking: Any, available: list[Any]) -> list[RuntimeSpeedup]:
    """Measured eager/runtime ratios: runtimes stored for this hardware, each against eager in its own setting
    (the ranking's setting first)."""
    runtime_settings = [s for s in available if s.runtime in SPEEDUP_RUNTIMES and s.mode == "inference" and not s.quick]
    runtime_settings.sort(key=lambda s: dataclasses.replace(s, runtime="eager") != dataclasses.replace(
        ranking, runtime="eager"))
    out: list[RuntimeSpeedup] = []
    done: set[str] = set()
    for s in runtime_settings:
        if s.runtime in done:
            continue
        eager = dataclasses.replace(s, runtime="eager")
        if eager not in available:
            continue
        fast, base = load_measurements(db, hardware, s).rows, load_measurements(db, hardware, eager).rows
        pairs = [(n, base[n].latency_ms, fast[n].latency_ms) for n in fast
                 if n in base and base[n].latency_ms and fast[n].latency_ms]
        if pairs:
            done.add(s.runtime)
            out.extend(RuntimeSpeedup(n, s.runtime, e, r, eager.label() + f" vs {s.runtime}") for n, e, r in pairs)
    return out
