"""The one row schema of a measurement: its columns, their types, and the check every row passes.

The store's table, the export/import files and the worker's rows all use `ROW_COLUMNS`;
the settings key is `records.KEY_COLUMNS`. Plain Python (no sqlite, no torch), so a
child process can import it to build its rows.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from hoot.bench.records import DTYPES, KEY_COLUMNS, MODES, RUNTIMES, STATUSES, STOPPED_BY

#: version of the store's schema and of export files (`PRAGMA user_version`)
SCHEMA_VERSION = 4

#: column -> (SQLite type, python types accepted on import, required)
ROW_COLUMNS: dict[str, tuple[str, tuple[type, ...], bool]] = {
    "hardware_id": ("TEXT NOT NULL", (str,), True),
    "variant": ("TEXT NOT NULL", (str,), True),
    "family": ("TEXT", (str,), False),
    "task": ("TEXT", (str,), False),
    "mode": ("TEXT NOT NULL", (str,), True),
    "device": ("TEXT NOT NULL", (str,), True),
    "dtype": ("TEXT NOT NULL", (str,), True),
    "batch_size": ("INTEGER NOT NULL", (int,), True),
    "input_size": ("INTEGER NOT NULL", (int,), True),
    "native_input": ("INTEGER", (bool,), False),
    "threads": ("INTEGER NOT NULL", (int,), True),
    "channels_last": ("INTEGER NOT NULL", (bool,), True),
    "runtime": ("TEXT NOT NULL DEFAULT 'eager'", (str,), False),  # eager | cuda_graph | compile | ...
    "quick": ("INTEGER NOT NULL", (bool,), True),
    "status": ("TEXT NOT NULL", (str,), True),
    "error": ("TEXT", (str,), False),
    "latency_ms": ("REAL", (float,), False),  # median time of one batch (median of block medians)
    "latency_p10_ms": ("REAL", (float,), False),
    "latency_p90_ms": ("REAL", (float,), False),
    "latency_cv": ("REAL", (float,), False),  # coefficient of variation (std / mean)
    "latency_spread_ms": ("REAL", (float,), False),  # spread (max - min) of the timed blocks' medians
    "converged": ("INTEGER", (bool,), False),  # None: stored before convergence was recorded
    "stopped_by": ("TEXT", (str,), False),  # converged | time_cap | max_iters
    "iterations": ("INTEGER", (int,), False),  # timed iterations behind the median
    "timed_s": ("REAL", (float,), False),  # seconds spent in timed iterations
    "throughput_ips": ("REAL", (float,), False),  # images per second at batch_size
    "gmacs": ("REAL", (float,), False),  # per image, torch.utils.flop_counter
    "gflops": ("REAL", (float,), False),  # 2 x gmacs
    "gmacs_fvcore": ("REAL", (float,), False),  # cross-check; fvcore skips unsupported ops
    "fvcore_unsupported": ("TEXT", (str,), False),
    "params": ("INTEGER", (int,), False),
    "weights_file_mb": ("REAL", (float,), False),
    "onnx_file_mb": ("REAL", (float,), False),  # exported runtimes: the model file that ran (.onnx, .pte, .tflite, IR)
    "prepare_s": ("REAL", (float,), False),  # exported runtimes: export/conversion (and quantisation) seconds
    "providers": ("TEXT", (str,), False),  # ONNX Runtime execution providers, in the order they ran
    "peak_memory_mb": ("REAL", (float,), False),  # CUDA: allocator peak allocated; CPU: peak RSS over baseline
    "peak_reserved_mb": ("REAL", (float,), False),  # CUDA allocator peak reserved
    "memory_kind": ("TEXT", (str,), False),  # cuda_allocator | cpu_rss
    # how busy the machine was during the timed blocks (bench.contention); NULL: stored before version 3
    "busy_other_cores": ("REAL", (float,), False),  # other processes' CPU time / wall time, in cores
    "load_1min": ("REAL", (float,), False),  # 1-minute load average at the end of the timing
    "gpu_other_processes": ("INTEGER", (int,), False),  # other processes with a context on the GPU (NVML)
    "contended": ("INTEGER", (bool,), False),  # above bench.contention's thresholds: the figure is doubtful
    "auto_batch_size": ("INTEGER", (int,), False),  # --train on a GPU: largest batch under the memory budget
    "auto_batch_s": ("REAL", (float,), False),  # seconds the automatic batch size search took
    "build_s": ("REAL", (float,), False),
    "duration_s": ("REAL", (float,), False),
    "torch_version": ("TEXT", (str,), False),
    "torchvision_version": ("TEXT", (str,), False),
    "model_source": ("TEXT", (str,), False),  # the package that built the model: torchvision | timm | segmentation-models-pytorch
    "model_source_version": ("TEXT", (str,), False),  # its installed version
    # the form timed (DEPLOY_FORMS): inference rows time the network as it ships (train-time branches folded);
    # NULL: a row from before version 4 of a model hoot did not need to fold
    "deploy_form": ("TEXT", (str,), False),
    "cuda_version": ("TEXT", (str,), False),
    "hoot_version": ("TEXT", (str,), False),
    "measured_at": ("TEXT NOT NULL", (str,), True),
}
#: the column names, in table order
ROW_KEYS: tuple[str, ...] = tuple(ROW_COLUMNS)

HARDWARE_COLUMNS: dict[str, str] = {
    "cpu_model": "TEXT", "cpu_cores": "INTEGER", "cpu_physical_cores": "INTEGER", "memory_gb": "REAL",
    "os": "TEXT", "arch": "TEXT", "gpu_count": "INTEGER", "gpu_name": "TEXT", "gpu_memory_mb": "INTEGER",
    "gpu_compute_capability": "TEXT", "gpu_driver": "TEXT",
}

#: folded: train-time branches folded before timing (as it ships); as_built: nothing to fold, or a training
#: row (training keeps the branches); unfolded: an inference row stored before hoot folded this model
#: (schema < 4), slower than the network ships: resume measures it again and advise says so
DEPLOY_FORMS = ("folded", "as_built", "unfolded")
#: the catalog models hoot folds since schema version 4 (timm's reparameterize_model changes them): their
#: inference rows from older stores and export files timed the training form
FOLDED_SINCE_V4 = ("efficientvit_m0", "efficientvit_m3", "efficientvit_m4", "fastvit_t8", "levit_128", "levit_128s",
                   "mobileone_s1", "repvit_m0_9")

BOOL_COLUMNS = frozenset(c for c, (_, types, _) in ROW_COLUMNS.items() if types == (bool,))


def mark_unfolded(row: dict[str, Any]) -> dict[str, Any]:
    """A stored or exported row from before version 4 (it has no `deploy_form` at all): an inference row of
    a model hoot now folds timed its training form, so it is `unfolded`; any other row is as it was."""
    if "deploy_form" not in row and row.get("mode") == "inference" and row.get("variant") in FOLDED_SINCE_V4:
        return {**row, "deploy_form": "unfolded"}
    return row


def upgrade_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row written by schema version 1 (a `compile` flag, no `runtime`) in today's form."""
    if "compile" not in row:
        return row
    out = dict(row)
    flag = _coerce("compile", out.pop("compile"), (bool,))
    if out.get("runtime") in (None, ""):
        out["runtime"] = "compile" if flag is True else "eager"
    return out


def _coerce(column: str, value: Any, types: tuple[type, ...]) -> Any:
    """CSV cells arrive as text: turn '', '12', '1.5', 'true' into None, 12, 1.5, True."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    if types == (bool,) and isinstance(value, str):
        low = value.strip().lower()
        if low in ("1", "true", "yes"):
            return True
        if low in ("0", "false", "no"):
            return False
        return value
    if types == (bool,) and isinstance(value, int):
        return bool(value) if value in (0, 1) else value
    if types == (int,) and isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return value
    if types == (int,) and isinstance(value, float) and value.is_integer():
        return int(value)
    if types == (float,):
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                return value
        if isinstance(value, int) and not isinstance(value, bool):
            return float(value)
    return value


def validate_row(row: dict[str, Any], coerce: bool = False) -> tuple[dict[str, Any], list[str]]:
    """(clean row, problems): types, enums and ranges of one measurement."""
    row = upgrade_row(row)
    errors: list[str] = []
    clean: dict[str, Any] = {}
    unknown = sorted(set(row) - set(ROW_COLUMNS))
    if unknown:
        errors.append(f"unknown field '{unknown[0]}' (known: see `hoot bench export`)")
    for col, (_, types, required) in ROW_COLUMNS.items():
        value = row.get(col)
        if coerce:
            value = _coerce(col, value, types)
        elif types == (float,) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if value is None:
            if required:
                errors.append(f"field '{col}' is missing")
            continue
        ok = isinstance(value, types) and (types == (bool,) or not isinstance(value, bool))
        if not ok:
            want = {"str": "text", "int": "an integer", "float": "a number", "bool": "true/false"}[types[0].__name__]
            errors.append(f"field '{col}' is {value!r}, expected {want}")
            continue
        if isinstance(value, float) and not math.isfinite(value):
            errors.append(f"field '{col}' is {value}, expected a finite number")
            continue
        clean[col] = value
    clean.setdefault("runtime", "eager")
    for col, allowed in (("status", STATUSES), ("mode", MODES), ("dtype", DTYPES), ("runtime", RUNTIMES),
                         ("stopped_by", STOPPED_BY), ("deploy_form", DEPLOY_FORMS)):
        if col in clean and clean[col] not in allowed:
            errors.append(f"field '{col}' is '{clean[col]}', expected one of {', '.join(allowed)}")
    if "device" in clean and not (clean["device"] == "cpu" or clean["device"].startswith(("cuda", "mps", "xpu"))):
        errors.append(f"field 'device' is '{clean['device']}', expected cpu or cuda[:N]")
    for col in ("batch_size", "input_size", "threads"):
        if col in clean and clean[col] <= 0:
            errors.append(f"field '{col}' is {clean[col]}, expected a positive integer")
    for col in ("latency_ms", "latency_p10_ms", "latency_p90_ms", "latency_spread_ms", "throughput_ips", "gmacs",
                "peak_memory_mb", "auto_batch_s", "busy_other_cores", "load_1min", "gpu_other_processes"):
        if col in clean and clean[col] < 0:
            errors.append(f"field '{col}' is {clean[col]}, expected zero or more")
    if clean.get("status") == "ok" and clean.get("latency_ms") is None:
        errors.append("field 'latency_ms' is missing for an 'ok' row")
    if clean.get("stopped_by") is not None and clean.get("converged") is None:
        clean["converged"] = clean["stopped_by"] == "converged"
    if "measured_at" in clean:
        try:
            datetime.fromisoformat(clean["measured_at"])
        except ValueError:
            errors.append(f"field 'measured_at' is '{clean['measured_at']}', expected an ISO date-time")
    return clean, errors


def to_sql(column: str, value: Any) -> Any:
    """A Python value as SQLite stores it (booleans as 0/1)."""
    if column in BOOL_COLUMNS and value is not None:
        return int(bool(value))
    return value


def from_sql(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row as Python values (0/1 back to booleans)."""
    for c in BOOL_COLUMNS:
        if c in row and row[c] is not None:
            row[c] = bool(row[c])
    return row
