"""`hoot bench compare A B`: two machines, or two settings on one machine, side by side.

Each side is 'HARDWARE[,key=value...]' and resolves to ONE setting of that machine: the
keys pin fields of it, the rest follow `bench.selection`'s default rule (so one side never
mixes CPU and GPU rows, two thread counts or quick and full runs). Rows are matched per
variant; the settings both sides share are shown as columns, the labels name each side's
setting. Ratios are B / A, so 0.5 means B takes half the time (or memory) of A.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from hoot.advisor.errors import HootError, NoAnswer
from hoot.bench.records import RUNTIMES, Setting
from hoot.bench.selection import Chosen, choose
from hoot.bench.store import ResultStore

#: spec key -> Setting field
SPEC_KEYS = {
    "device": "device", "dtype": "dtype", "batch": "batch_size", "batch_size": "batch_size", "size": "input_size",
    "input_size": "input_size", "threads": "threads", "mode": "mode", "channels_last": "channels_last",
    "runtime": "runtime", "compile": "compile", "quick": "quick",
}
_INT = {"batch_size", "input_size", "threads"}
_BOOL = {"channels_last", "compile", "quick"}
#: a side's open fields: everything the spec does not pin is chosen by the default rule
_OPEN = Setting(device=None, dtype=None, batch_size=None, input_size=None, threads=None,  # type: ignore[arg-type]
                channels_last=None, runtime=None, quick=False, mode="inference")  # type: ignore[arg-type]


def parse_side(store: ResultStore, spec: str) -> tuple[str, dict[str, Any]]:
    """'this,dtype=fp16' -> (hardware id, {'dtype': 'fp16'})."""
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    hardware = "this"
    if parts and "=" not in parts[0]:
        hardware = parts.pop(0)
    fixed: dict[str, Any] = {}
    for part in parts:
        key, sep, value = part.partition("=")
        column = SPEC_KEYS.get(key.strip())
        if not sep or column is None:
            raise HootError(f"compare side '{spec}': '{part}' is not key=value with a key among {', '.join(sorted(SPEC_KEYS))}")
        value = value.strip()
        if column in _INT:
            if not value.isdigit() or int(value) <= 0:
                raise HootError(f"compare side '{spec}': {key} must be a positive integer, not '{value}'")
            fixed[column] = int(value)
        elif column in _BOOL:
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise HootError(f"compare side '{spec}': {key} must be true or false, not '{value}'")
            fixed[column] = value.lower() in ("true", "1", "yes")
        elif column == "runtime" and value not in RUNTIMES:
            raise HootError(f"compare side '{spec}': runtime must be one of {', '.join(RUNTIMES)}, not '{value}'")
        else:
            fixed[column] = value
    if "compile" in fixed:  # the old spelling of runtime=compile
        fixed["runtime"] = "compile" if fixed.pop("compile") else fixed.get("runtime", "eager")
    return store.resolve_hardware(hardware), fixed


def _ratio(b: Any, a: Any) -> float | None:
    return b / a if a and b is not None else None


def _side(store: ResultStore, hw: str, fixed: dict[str, Any], models: list[str] | None) -> Chosen:
    wanted = dataclasses.replace(_OPEN, **fixed)
    chosen = choose(store, hw, wanted, allow_quick=True, any_size="input_size" not in fixed)
    if chosen.setting is None:
        raise NoAnswer(f"no ok measurements for {hw} with {fixed or 'any settings'}")
    rows = {n: m for n, m in chosen.rows.items() if m.status == "ok" and (models is None or n in models)}
    return dataclasses.replace(chosen, rows=rows)


def compare(store: ResultStore, spec_a: str, spec_b: str,
            models: list[str] | None = None) -> tuple[list[dict[str, Any]], str, str]:
    """(rows, label A, label B): latency, throughput and peak memory of both sides with B/A ratios."""
    (hw_a, fixed_a), (hw_b, fixed_b) = parse_side(store, spec_a), parse_side(store, spec_b)
    if (hw_a, fixed_a) == (hw_b, fixed_b):
        raise HootError(f"compare: A and B are the same ('{spec_a}'); name two machines or two settings")
    a, b = _side(store, hw_a, fixed_a, models), _side(store, hw_b, fixed_b, models)
    if a.setting is None or b.setting is None:  # pragma: no cover - _side raised already
        raise NoAnswer("compare: a side has no setting")
    shared = {f.name: getattr(a.setting, f.name) for f in dataclasses.fields(Setting)
              if getattr(a.setting, f.name) == getattr(b.setting, f.name)}
    out = []
    for name in sorted(set(a.rows) & set(b.rows)):
        ra, rb = a.rows[name], b.rows[name]
        row: dict[str, Any] = {"variant": name, **shared}
        if "input_size" in shared and shared["input_size"] is None:
            row["input_size"] = ra.key.input_size if ra.key.input_size == rb.key.input_size else None
        row.update({
            "latency_ms_a": ra.latency_ms, "latency_ms_b": rb.latency_ms,
            "latency_ratio": _ratio(rb.latency_ms, ra.latency_ms),
            "converged_a": ra.converged, "converged_b": rb.converged,
            "throughput_ips_a": ra.throughput_ips, "throughput_ips_b": rb.throughput_ips,
            "peak_memory_mb_a": ra.peak_memory_mb, "peak_memory_mb_b": rb.peak_memory_mb,
            "memory_ratio": _ratio(rb.peak_memory_mb, ra.peak_memory_mb),
        })
        out.append(row)
    if not out:
        raise NoAnswer(f"A ({a.setting.label()}) and B ({b.setting.label()}) share no measured variant; "
                       "pin the settings that differ, e.g. 'this,dtype=fp32'")

    def label(hw: str, fixed: dict[str, Any], setting: Setting) -> str:
        pinned = " (" + ", ".join(f"{k}={v}" for k, v in fixed.items()) + ")" if fixed else ""
        return f"{hw}{pinned}: {setting.label()}"
    return out, label(hw_a, fixed_a, a.setting), label(hw_b, fixed_b, b.setting)
