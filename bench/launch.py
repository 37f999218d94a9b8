"""Launch-bound models: eager latency against the same call replayed as a CUDA graph.

Batch-1 eager inference on a big GPU is often bound by the CPU launching kernels, not by the
GPU: the graphed replay launches the whole forward at once. Where the eager median exceeds
LAUNCH_BOUND_RATIO times the graphed one at the same setting (machine, variant, mode,
device, dtype, batch, size, threads, layout, budget), the eager figure says more about the
host than the GPU, and `bench show` and the report flag it. Pure functions over stored rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from hoot.bench.records import KEY_COLUMNS

#: eager / graphed latency above which a model counts as launch-bound (issue 9's rule)
LAUNCH_BOUND_RATIO = 1.5

_PAIR_COLUMNS = tuple(c for c in KEY_COLUMNS if c != "runtime")


@dataclass(frozen=True)
class LaunchCheck:
    """One eager row and its graphed twin: the ratio and the verdict."""

    variant: str
    batch_size: int
    dtype: str
    eager_ms: float
    graph_ms: float

    @property
    def eager_over_graph(self) -> float:
        return self.eager_ms / self.graph_ms

    @property
    def launch_bound(self) -> bool:
        return self.eager_over_graph > LAUNCH_BOUND_RATIO


def pair_key(row: dict[str, Any]) -> tuple:
    """The settings key without its runtime: what an eager row shares with its graphed twin."""
    return tuple(row.get(c) for c in _PAIR_COLUMNS)


def launch_checks(rows: Iterable[dict[str, Any]]) -> dict[tuple, LaunchCheck]:
    """{pair key: check} for every ok eager row whose ok `cuda_graph` twin is among `rows`."""
    rows = list(rows)
    graphs = {pair_key(r): r for r in rows
              if r.get("runtime") == "cuda_graph" and r.get("status") == "ok" and (r.get("latency_ms") or 0) > 0}
    out: dict[tuple, LaunchCheck] = {}
    for r in rows:
        if r.get("runtime", "eager") != "eager" or r.get("status") != "ok" or not r.get("latency_ms"):
            continue
        twin = graphs.get(pair_key(r))
        if twin is not None:
            out[pair_key(r)] = LaunchCheck(r["variant"], r["batch_size"], r["dtype"], float(r["latency_ms"]),
                                            float(twin["latency_ms"]))
    return out


def launch_fields(check: LaunchCheck | None) -> dict[str, Any]:
    """A row's `eager_over_graph` and `launch_bound` columns (None where it has no pair)."""
    if check is None:
        return {"eager_over_graph": None, "launch_bound": None}
    return {"eager_over_graph": round(check.eager_over_graph, 2), "launch_bound": check.launch_bound}


def annotate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows with `eager_over_graph` and `launch_bound` filled in where a pair exists (copies)."""
    checks = launch_checks(rows)
    return [{**r, **launch_fields(checks.get(pair_key(r)))} for r in rows]
