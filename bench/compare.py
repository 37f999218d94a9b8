"""`hoot bench compare A B`: two machines, or two settings on one machine, side by side.

Each side is 'HARDWARE[,key=value...]'. Rows are matched per variant on the settings
neither side pins (mode, batch size, input size, dtype, layout, compilation); where a
side has several candidates (CPU and GPU rows, quick and full runs) the advisor's
preference picks one (`bench.store.pick_preferred`).
Ratios are B / A, so 0.5 means B takes half the time (or memory) of A.
"""

from __future__ import annotations

from typing import Any

from hoot.advisor.errors import HootError, NoAnswer
from hoot.bench.store import ResultStore, pick_preferred

#: spec key -> store column
SPEC_KEYS = {
    "device": "device", "dtype": "dtype", "batch": "batch_size", "batch_size": "batch_size", "size": "input_size",
    "input_size": "input_size", "threads": "threads", "mode": "mode", "channels_last": "channels_last",
    "compile": "compile", "quick": "quick",
}
_INT = {"batch_size", "input_size", "threads"}
_BOOL = {"channels_last", "compile", "quick"}
MATCH_ON = ("mode", "batch_size", "input_size", "dtype", "channels_last", "compile")


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
            if not value.isdigit():
                raise HootError(f"compare side '{spec}': {key} must be a positive integer, not '{value}'")
            fixed[column] = int(value)
        elif column in _BOOL:
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise HootError(f"compare side '{spec}': {key} must be true or false, not '{value}'")
            fixed[column] = value.lower() in ("true", "1", "yes")
        else:
            fixed[column] = value
    return store.resolve_hardware(hardware), fixed


def _ratio(b: Any, a: Any) -> float | None:
    return b / a if a and b is not None else None


def compare(store: ResultStore, spec_a: str, spec_b: str,
            models: list[str] | None = None) -> tuple[list[dict[str, Any]], str, str]:
    """(rows, label A, label B): latency, throughput and peak memory of both sides with B/A ratios."""
    (hw_a, fixed_a), (hw_b, fixed_b) = parse_side(store, spec_a), parse_side(store, spec_b)
    if (hw_a, fixed_a) == (hw_b, fixed_b):
        raise HootError(f"compare: A and B are the same ('{spec_a}'); name two machines or two settings")
    match = tuple(c for c in MATCH_ON if c not in fixed_a and c not in fixed_b)
    sides = []
    for hw, fixed in ((hw_a, fixed_a), (hw_b, fixed_b)):
        rows = store.rows({"hardware_id": hw, "status": "ok", "variant": models, **fixed})
        if not rows:
            raise NoAnswer(f"no ok measurements for {hw} with {fixed or 'any settings'}")
        sides.append(pick_preferred(rows, ("variant", *match)))
    a, b = sides
    out = []
    for key in sorted(set(a) & set(b), key=lambda k: tuple(str(x) for x in k)):
        ra, rb = a[key], b[key]
        row = {"variant": key[0], **dict(zip(match, key[1:]))}
        row.update({
            "latency_ms_a": ra["latency_ms"], "latency_ms_b": rb["latency_ms"],
            "latency_ratio": _ratio(rb["latency_ms"], ra["latency_ms"]),
            "throughput_ips_a": ra.get("throughput_ips"), "throughput_ips_b": rb.get("throughput_ips"),
            "peak_memory_mb_a": ra.get("peak_memory_mb"), "peak_memory_mb_b": rb.get("peak_memory_mb"),
            "memory_ratio": _ratio(rb.get("peak_memory_mb"), ra.get("peak_memory_mb")),
        })
        out.append(row)
    if not out:
        raise NoAnswer(f"A and B share no variant with the same {', '.join(match) or 'settings'}; "
                       "pin the settings that differ, e.g. 'this,dtype=fp32'")

    def label(hw: str, fixed: dict[str, Any]) -> str:
        return hw + (" (" + ", ".join(f"{k}={v}" for k, v in fixed.items()) + ")" if fixed else "")
    return out, label(hw_a, fixed_a), label(hw_b, fixed_b)
