"""The results store: one SQLite row per measurement, keyed by hardware and settings.

Plain sqlite3 and no torch, so `hoot advise` can read measured latencies cheaply. WAL
mode plus a busy timeout and one short transaction per row let two `hoot bench`
processes write to one file at once without losing a row. The schema is versioned with
`PRAGMA user_version`; an older file is migrated, a newer one is refused with a clear
message. Rows are appended, never overwritten: `--force` adds a newer row and readers
take the latest per settings, so history survives.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence

from hoot.advisor.errors import HootError
from hoot.advisor.paths import default_db_path

SCHEMA_VERSION = 1
STATUSES = ("ok", "oom", "error")
MODES = ("inference", "train")
DTYPES = ("fp32", "fp16", "bf16")

#: the settings that make two measurements comparable; resume skips a stored key
SETTINGS_KEY: tuple[str, ...] = (
    "hardware_id", "variant", "mode", "device", "dtype", "batch_size", "input_size",
    "threads", "channels_last", "compile", "quick",
)

#: column -> (SQLite type, python types accepted on import, required)
COLUMNS: dict[str, tuple[str, tuple[type, ...], bool]] = {
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
    "compile": ("INTEGER NOT NULL", (bool,), True),
    "quick": ("INTEGER NOT NULL", (bool,), True),
    "status": ("TEXT NOT NULL", (str,), True),
    "error": ("TEXT", (str,), False),
    "latency_ms": ("REAL", (float,), False),  # median time of one batch
    "latency_p10_ms": ("REAL", (float,), False),
    "latency_p90_ms": ("REAL", (float,), False),
    "latency_cv": ("REAL", (float,), False),  # coefficient of variation (std / mean)
    "iterations": ("INTEGER", (int,), False),  # timed iterations behind the median
    "timed_s": ("REAL", (float,), False),  # seconds spent in timed iterations
    "throughput_ips": ("REAL", (float,), False),  # images per second at batch_size
    "gmacs": ("REAL", (float,), False),  # per image, torch.utils.flop_counter
    "gflops": ("REAL", (float,), False),  # 2 x gmacs
    "gmacs_fvcore": ("REAL", (float,), False),  # cross-check; fvcore skips unsupported ops
    "fvcore_unsupported": ("TEXT", (str,), False),
    "params": ("INTEGER", (int,), False),
    "weights_file_mb": ("REAL", (float,), False),
    "peak_memory_mb": ("REAL", (float,), False),  # CUDA: allocator peak allocated; CPU: peak RSS over baseline
    "peak_reserved_mb": ("REAL", (float,), False),  # CUDA allocator peak reserved
    "memory_kind": ("TEXT", (str,), False),  # cuda_allocator | cpu_rss
    "auto_batch_size": ("INTEGER", (int,), False),  # --train on a GPU: largest batch under the memory budget
    "build_s": ("REAL", (float,), False),
    "duration_s": ("REAL", (float,), False),
    "torch_version": ("TEXT", (str,), False),
    "torchvision_version": ("TEXT", (str,), False),
    "cuda_version": ("TEXT", (str,), False),
    "hoot_version": ("TEXT", (str,), False),
    "measured_at": ("TEXT NOT NULL", (str,), True),
}

HARDWARE_COLUMNS: dict[str, str] = {
    "cpu_model": "TEXT", "cpu_cores": "INTEGER", "cpu_physical_cores": "INTEGER", "memory_gb": "REAL",
    "os": "TEXT", "arch": "TEXT", "gpu_count": "INTEGER", "gpu_name": "TEXT", "gpu_memory_mb": "INTEGER",
    "gpu_compute_capability": "TEXT", "gpu_driver": "TEXT",
}

_BOOL_COLUMNS = {c for c, (_, types, _) in COLUMNS.items() if types == (bool,)}
_MIGRATIONS: list[str] = [
    # version 0 -> 1: the first schema
    "CREATE TABLE hardware (hardware_id TEXT PRIMARY KEY, "
    + ", ".join(f"{c} {t}" for c, t in HARDWARE_COLUMNS.items())
    + ", info_json TEXT, first_seen TEXT);"
    "CREATE TABLE measurements (id INTEGER PRIMARY KEY AUTOINCREMENT, "
    + ", ".join(f"{c} {t}" for c, (t, _, _) in COLUMNS.items())
    + ", UNIQUE (" + ", ".join(SETTINGS_KEY) + ", measured_at));"
    "CREATE INDEX measurements_key ON measurements (" + ", ".join(SETTINGS_KEY) + ");",
]


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _sql_value(column: str, value: Any) -> Any:
    if column in _BOOL_COLUMNS and value is not None:
        return int(bool(value))
    return value


def _py_row(row: sqlite3.Row) -> dict[str, Any]:
    out = dict(row)
    for c in _BOOL_COLUMNS:
        if c in out and out[c] is not None:
            out[c] = bool(out[c])
    return out


class ResultStore:
    """A results database file. Use as a context manager or call `close()`."""

    def __init__(self, path: str | Path | None = None, create: bool = True):
        self.path = Path(path) if path is not None else default_db_path()
        if self.path.is_dir():
            raise HootError(f"results database '{self.path}' is a directory; pass a file path with --db")
        if not create and not self.path.exists():
            raise HootError(f"results database '{self.path}' does not exist; run `hoot bench` first or pass --db")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(str(self.path), timeout=60.0, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise HootError(f"cannot open results database '{self.path}' ({exc}); pass a writable path with --db") from None
        self.conn.row_factory = sqlite3.Row
        try:
            self.conn.execute("PRAGMA busy_timeout = 60000")
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA synchronous = NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise HootError(f"'{self.path}' is not a hoot results database ({exc}); pass another file with --db") from None

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    # -- schema ------------------------------------------------------------------------
    def _migrate(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise HootError(
                f"results database '{self.path}' has schema version {version}, this hoot reads up to "
                f"{SCHEMA_VERSION}; upgrade hoot or pass another file with --db"
            )
        if version == SCHEMA_VERSION:
            return
        with self._write():
            # re-read under the write lock: another process may have migrated meanwhile
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            for step in range(version, SCHEMA_VERSION):
                for statement in _MIGRATIONS[step].split(";"):
                    if statement.strip():
                        self.conn.execute(statement)
            self.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _write(self) -> "_Transaction":
        return _Transaction(self.conn)

    # -- writing -----------------------------------------------------------------------
    def save_hardware(self, info: dict[str, Any]) -> None:
        """Store a machine's description once (first description wins, later ones are ignored)."""
        hid = info["hardware_id"]
        values = {c: info.get(c) for c in HARDWARE_COLUMNS}
        with self._write():
            self.conn.execute(
                "INSERT OR IGNORE INTO hardware (hardware_id, " + ", ".join(values) + ", info_json, first_seen) "
                "VALUES (?, " + ", ".join("?" for _ in values) + ", ?, ?)",
                [hid, *values.values(), json.dumps(info, default=str), utc_now()],
            )

    def add(self, row: dict[str, Any]) -> int | None:
        """Append one measurement (validated); returns its id, None when the same row is already stored."""
        clean, errors = validate_row(row)
        if errors:
            raise HootError("cannot store measurement: " + "; ".join(errors))
        cols = list(clean)
        with self._write():
            cur = self.conn.execute(
                f"INSERT OR IGNORE INTO measurements ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                [_sql_value(c, clean[c]) for c in cols],
            )
            return cur.lastrowid if cur.rowcount else None

    def annotate(self, ids: Sequence[int], fields: dict[str, Any]) -> None:
        """Fill figures that arrive after a row was stored (FLOPs, counted after the timing)."""
        allowed = {"gmacs", "gflops", "gmacs_fvcore", "fvcore_unsupported"}
        bad = set(fields) - allowed
        if bad:
            raise ValueError(f"annotate may only set {sorted(allowed)}, not {sorted(bad)}")
        if not ids or not fields:
            return
        sets = ", ".join(f"{c} = ?" for c in fields)
        with self._write():
            self.conn.execute(f"UPDATE measurements SET {sets} WHERE id IN ({', '.join('?' for _ in ids)})",
                              [*fields.values(), *ids])

    # -- reading -----------------------------------------------------------------------
    def has(self, key: dict[str, Any], statuses: Sequence[str] = ("ok", "oom")) -> bool:
        """Is a measurement with exactly these settings stored (with one of `statuses`)?"""
        where = " AND ".join(f"{c} = ?" for c in SETTINGS_KEY)
        args = [_sql_value(c, key[c]) for c in SETTINGS_KEY]
        q = f"SELECT 1 FROM measurements WHERE {where} AND status IN ({', '.join('?' for _ in statuses)}) LIMIT 1"
        return self.conn.execute(q, [*args, *statuses]).fetchone() is not None

    def rows(self, filters: dict[str, Any] | None = None, latest: bool = True) -> list[dict[str, Any]]:
        """Measurements matching `filters` (column -> value or list of values), oldest first.

        `latest` keeps only the newest row per settings key (what a re-run with --force replaced).
        """
        where, args = [], []
        for col, value in (filters or {}).items():
            if value is None:
                continue
            if col not in COLUMNS:
                raise HootError(f"unknown filter '{col}'")
            values = value if isinstance(value, (list, tuple, set)) else [value]
            where.append(f"m.{col} IN ({', '.join('?' for _ in values)})")
            args.extend(_sql_value(col, v) for v in values)
        sql = "SELECT m.* FROM measurements m"
        if latest:
            newer = " AND ".join(f"n.{c} IS m.{c}" for c in SETTINGS_KEY)
            where.append(f"NOT EXISTS (SELECT 1 FROM measurements n WHERE {newer} AND "
                         "(n.measured_at > m.measured_at OR (n.measured_at = m.measured_at AND n.id > m.id)))")
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY m.id"
        return [_py_row(r) for r in self.conn.execute(sql, args)]

    def hardware(self, hardware_id: str | None = None) -> list[dict[str, Any]]:
        """Stored machines (all, or the one named), with their row counts."""
        sql = ("SELECT h.*, (SELECT COUNT(*) FROM measurements m WHERE m.hardware_id = h.hardware_id) AS rows "
               "FROM hardware h")
        args: list[Any] = []
        if hardware_id is not None:
            sql += " WHERE h.hardware_id = ?"
            args.append(hardware_id)
        out = []
        for r in self.conn.execute(sql + " ORDER BY h.first_seen", args):
            d = dict(r)
            d.pop("info_json", None)
            out.append(d)
        return out

    def hardware_info(self, hardware_id: str) -> dict[str, Any] | None:
        r = self.conn.execute("SELECT info_json FROM hardware WHERE hardware_id = ?", [hardware_id]).fetchone()
        return json.loads(r[0]) if r and r[0] else None

    def hardware_ids(self) -> list[str]:
        """Every hardware id with measurements or a description, in first-seen order."""
        ids = [r[0] for r in self.conn.execute("SELECT hardware_id FROM hardware ORDER BY first_seen")]
        for (hid,) in self.conn.execute("SELECT DISTINCT hardware_id FROM measurements ORDER BY id"):
            if hid not in ids:
                ids.append(hid)
        return ids

    def resolve_hardware(self, spec: str) -> str:
        """'this' or an id (or a unique prefix of one) -> a stored hardware id, else a HootError listing them."""
        from hoot.bench.hardware import current_hardware_id

        known = self.hardware_ids()
        if spec == "this":
            return current_hardware_id()
        if spec in known:
            return spec
        matches = [h for h in known if h.startswith(spec)]
        if len(matches) == 1:
            return matches[0]
        listing = ", ".join(known) if known else "none yet (run `hoot bench` or `hoot bench import FILE`)"
        what = "matches several" if matches else "is unknown"
        raise HootError(f"hardware '{spec}' {what} in '{self.path}'; known hardware ids: {listing}")

    # -- export / import ---------------------------------------------------------------
    def export_rows(self, filters: dict[str, Any] | None = None, latest: bool = False) -> list[dict[str, Any]]:
        """Measurements joined with their machine's description: each row stands on its own."""
        machines = {h["hardware_id"]: h for h in self.hardware()}
        out = []
        for row in self.rows(filters, latest=latest):
            row.pop("id", None)
            hw = machines.get(row["hardware_id"], {})
            for c in HARDWARE_COLUMNS:
                row[f"hw_{c}"] = hw.get(c)
            out.append(row)
        return out

    def import_rows(self, rows: Iterable[dict[str, Any]], source: str = "input") -> tuple[int, int]:
        """Validate every row, then store them all in one transaction (all or nothing).

        Returns (added, already_present). A bad row raises a HootError naming the row and field.
        """
        cleaned: list[tuple[dict[str, Any], dict[str, Any]]] = []
        problems: list[str] = []
        for index, raw in enumerate(rows, start=1):
            if not isinstance(raw, dict):
                problems.append(f"row {index}: is a {type(raw).__name__}, expected an object of fields")
                continue
            hw = {c: raw.get(f"hw_{c}") for c in HARDWARE_COLUMNS}
            body = {k: v for k, v in raw.items() if not k.startswith("hw_") and k != "id"}
            clean, errors = validate_row(body, coerce=True)
            problems.extend(f"row {index}: {e}" for e in errors)
            if not errors:
                cleaned.append((clean, hw))
        if problems:
            more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
            raise HootError(f"{source}: nothing imported; " + "; ".join(problems[:5]) + more)
        if not cleaned:
            raise HootError(f"{source}: no measurements in the file; export one with `hoot bench export`")
        added = present = 0
        with self._write():
            for clean, hw in cleaned:
                hid = clean["hardware_id"]
                if any(v is not None for v in hw.values()):
                    info = {**hw, "hardware_id": hid, "imported_from": source}
                    self.conn.execute(
                        "INSERT OR IGNORE INTO hardware (hardware_id, " + ", ".join(hw) + ", info_json, first_seen) "
                        "VALUES (?, " + ", ".join("?" for _ in hw) + ", ?, ?)",
                        [hid, *hw.values(), json.dumps(info, default=str), utc_now()],
                    )
                cols = list(clean)
                cur = self.conn.execute(
                    f"INSERT OR IGNORE INTO measurements ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                    [_sql_value(c, clean[c]) for c in cols],
                )
                if cur.rowcount:
                    added += 1
                else:
                    present += 1
        return added, present


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, retried while another writer holds the lock."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        deadline = time.monotonic() + 120
        while True:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                return self.conn
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")


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
    errors: list[str] = []
    clean: dict[str, Any] = {}
    unknown = sorted(set(row) - set(COLUMNS))
    if unknown:
        errors.append(f"unknown field '{unknown[0]}' (known: see `hoot bench export`)")
    for col, (_, types, required) in COLUMNS.items():
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
    checks = (
        ("status", STATUSES), ("mode", MODES), ("dtype", DTYPES),
    )
    for col, allowed in checks:
        if col in clean and clean[col] not in allowed:
            errors.append(f"field '{col}' is '{clean[col]}', expected one of {', '.join(allowed)}")
    if "device" in clean and not (clean["device"] == "cpu" or clean["device"].startswith(("cuda", "mps", "xpu"))):
        errors.append(f"field 'device' is '{clean['device']}', expected cpu or cuda[:N]")
    for col in ("batch_size", "input_size", "threads"):
        if col in clean and clean[col] <= 0:
            errors.append(f"field '{col}' is {clean[col]}, expected a positive integer")
    for col in ("latency_ms", "latency_p10_ms", "latency_p90_ms", "throughput_ips", "gmacs", "peak_memory_mb"):
        if col in clean and clean[col] < 0:
            errors.append(f"field '{col}' is {clean[col]}, expected zero or more")
    if clean.get("status") == "ok" and clean.get("latency_ms") is None:
        errors.append("field 'latency_ms' is missing for an 'ok' row")
    if "measured_at" in clean:
        try:
            datetime.fromisoformat(clean["measured_at"])
        except ValueError:
            errors.append(f"field 'measured_at' is '{clean['measured_at']}', expected an ISO date-time")
    return clean, errors


def pick_preferred(rows: Iterable[dict[str, Any]], group_by: Sequence[str]) -> dict[tuple, dict[str, Any]]:
    """One row per `group_by` key: the GPU when these rows include GPU measurements (else the
    CPU), then fp32, the native input size, plain layout, eager mode, a full (not --quick)
    run, and the newest. Advice, compare and report all choose the same way."""
    rows = list(rows)
    has_gpu = any(r["device"].startswith("cuda") for r in rows)

    def preference(r: dict[str, Any]) -> tuple:
        return (
            r["device"].startswith("cuda") == has_gpu,
            r["dtype"] == "fp32",
            bool(r.get("native_input")),
            not r["channels_last"],
            not r["compile"],
            not r["quick"],
            r["measured_at"],
        )

    best: dict[tuple, dict[str, Any]] = {}
    for r in rows:
        key = tuple(r[c] for c in group_by)
        if key not in best or preference(r) > preference(best[key]):
            best[key] = r
    return best


# -- what the advisor reads (H2's `hoot advise --hardware`) ---------------------------
def measurements_for_advice(
    db_path: str | Path | None, hardware: str = "this"
) -> tuple[dict[str, Any] | None, dict[str, dict[str, Any]]]:
    """(hardware info or None, {variant: measured figures}) for ranking advice on one machine.

    Picks, per variant, the batch-1 inference latency: on the GPU when this hardware has
    GPU measurements, else the CPU; fp32 before other dtypes, the native input size,
    plain layout and eager mode before channels-last/compiled; the newest such row.
    `hardware="this"` with no results gives (None, {}); an unknown id is a HootError
    listing the known ones.
    """
    path = Path(db_path) if db_path is not None else default_db_path()
    if not path.exists():
        if hardware == "this":
            return None, {}
        raise HootError(f"hardware '{hardware}' is unknown: results database '{path}' does not exist; "
                        "run `hoot bench` or `hoot bench import FILE` first")
    with closing(ResultStore(path)) as store:
        hid = store.resolve_hardware(hardware)
        rows = [r for r in store.rows({"hardware_id": hid, "mode": "inference", "status": "ok", "batch_size": 1})]
        if not rows:
            return None, {}
        info = store.hardware_info(hid) or {"hardware_id": hid}
        if store.hardware(hid):
            info = {**store.hardware(hid)[0], **info}
    best = {key[0]: row for key, row in pick_preferred(rows, ("variant",)).items()}
    out = {
        name: {
            "latency_ms": r["latency_ms"],
            "peak_memory_mb": r.get("peak_memory_mb"),
            "device": r["device"],
            "dtype": r["dtype"],
            "input_size": r["input_size"],
            "batch_size": r["batch_size"],
        }
        for name, r in best.items()
    }
    info.pop("rows", None)
    info["hardware_id"] = hid
    return info, out

