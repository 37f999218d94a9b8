"""The store's tables and their migrations, one step per schema version.

Version 1 keyed rows on a `compile` flag; version 2 keys them on `runtime` (eager,
cuda_graph, compile, ...), records whether the timing converged (`converged`,
`stopped_by`, `latency_spread_ms`), the automatic batch search time, and adds the
`claims` table two `hoot bench` processes share work through. Version 3 adds how busy the
machine was while a row was timed (`busy_other_cores`, `load_1min`, `gpu_other_processes`,
`contended`) and the package that built the model (`model_source`,
`model_source_version`). Version 4 records the form an inference row timed (`deploy_form`): hoot
now folds the train-time branches of MobileOne, RepViT, FastViT, LeViT and EfficientViT-M before
timing, so their inference rows in an older file timed a slower network than ships and are marked
`unfolded` (kept; resume measures them again, advise says so). Older files are upgraded in place (compile=1 rows become runtime 'compile';
their convergence and contention are unknown, stored as NULL); a version-2 file that cannot
be written is still read as it is (the new columns read as unknown); a file newer than this
hoot is refused.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from hoot.advisor.errors import HootError
from hoot.bench.records import KEY_COLUMNS
from hoot.bench.schema import FOLDED_SINCE_V4, HARDWARE_COLUMNS, ROW_COLUMNS, SCHEMA_VERSION

log = logging.getLogger(__name__)

_HARDWARE_TABLE = ("CREATE TABLE hardware (hardware_id TEXT PRIMARY KEY, "
                   + ", ".join(f"{c} {t}" for c, t in HARDWARE_COLUMNS.items()) + ", info_json TEXT, first_seen TEXT)")
_MEASUREMENTS_TABLE = ("CREATE TABLE measurements (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                       + ", ".join(f"{c} {t}" for c, (t, _, _) in ROW_COLUMNS.items())
                       + ", UNIQUE (" + ", ".join(KEY_COLUMNS) + ", measured_at))")
#: the UNIQUE constraint indexes (key..., measured_at): the latest-per-setting window and the
#: resume check use it; this one serves "which hardware has ok rows" and status filters
_INDEXES = ["CREATE INDEX IF NOT EXISTS measurements_hw_status ON measurements (hardware_id, status)"]
_CLAIMS_TABLE = ("CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, owner TEXT NOT NULL, "
                 "expires_at REAL NOT NULL)")

#: the columns version 3 added (additive: a version-2 file reads without them)
V3_COLUMNS = ("busy_other_cores", "load_1min", "gpu_other_processes", "contended", "model_source", "model_source_version")
#: the column version 4 added
V4_COLUMNS = ("deploy_form",)
#: version 1's columns that version 2 keeps as they were
_V1_KEPT = [c for c in ROW_COLUMNS if c not in ("runtime", "converged", "stopped_by", "latency_spread_ms",
                                                 "onnx_file_mb", "prepare_s", "providers",
                                                 "auto_batch_s", *V3_COLUMNS, *V4_COLUMNS)]


def _create(conn: sqlite3.Connection) -> None:
    conn.execute(_HARDWARE_TABLE)
    conn.execute(_MEASUREMENTS_TABLE)
    for statement in _INDEXES:
        conn.execute(statement)
    conn.execute(_CLAIMS_TABLE)


def _v1_to_v2(conn: sqlite3.Connection) -> None:
    """Rebuild the measurements table: the unique key changes from compile to runtime."""
    conn.execute("DROP INDEX IF EXISTS measurements_key")
    conn.execute("ALTER TABLE measurements RENAME TO measurements_v1")
    conn.execute(_MEASUREMENTS_TABLE)
    cols = ", ".join(_V1_KEPT)
    conn.execute(f"INSERT INTO measurements (id, {cols}, runtime) SELECT id, {cols}, "
                 "CASE WHEN compile THEN 'compile' ELSE 'eager' END FROM measurements_v1 ORDER BY id")
    conn.execute("DROP TABLE measurements_v1")
    for statement in _INDEXES:
        conn.execute(statement)
    conn.execute(_CLAIMS_TABLE)


def _add_missing_columns(conn: sqlite3.Connection) -> None:
    """ALTER TABLE ADD COLUMN for every ROW_COLUMNS column the file lacks (NULL in old rows)."""
    have = {row[1] for row in conn.execute("PRAGMA table_info(measurements)")}
    for column, (sql_type, _, _) in ROW_COLUMNS.items():
        if column not in have:
            conn.execute(f"ALTER TABLE measurements ADD COLUMN {column} {sql_type.replace(' NOT NULL', '')}")


def _mark_unfolded(conn: sqlite3.Connection) -> None:
    """Version 4: the inference rows of the models hoot now folds were timed in their training form."""
    names = ", ".join("?" for _ in FOLDED_SINCE_V4)
    conn.execute(f"UPDATE measurements SET deploy_form = 'unfolded' WHERE deploy_form IS NULL AND mode = 'inference' "
                 f"AND variant IN ({names})", FOLDED_SINCE_V4)


def check_is_hoots(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse an SQLite file another program made (hoot would write its tables into it): an empty
    file or one with hoot's tables is hoot's; anything else is not touched."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
              if not str(r[0]).startswith("sqlite_")}
    if (version == 0 and tables) or (version > 0 and not {"hardware", "measurements"} <= tables):
        shown = ", ".join(sorted(tables)[:4]) + (", ..." if len(tables) > 4 else "") if tables else "none"
        raise HootError(f"'{path}' is an SQLite file of another program (tables: {shown}), not a hoot results "
                        "database; pass a new or hoot-made file with --db")


def check_intact(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse a file with damaged pages before reading rows from it (SQLite's quick_check, a few ms
    for a bench database), and make a damaged text value one clear error instead of a decode crash."""
    problem = str(conn.execute("PRAGMA quick_check(1)").fetchone()[0])
    if problem != "ok":
        raise HootError(f"results database '{path}' is damaged ({problem.splitlines()[-1][:80]}); restore it from "
                        "a copy, or move it away and re-run `hoot bench` (or pass another file with --db)")

    def text(value: bytes) -> str:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise HootError(f"results database '{path}' holds a damaged text value ({value[:24]!r}); restore it "
                            "from a copy, or move it away and re-run `hoot bench` (or pass another file with --db)") from None

    conn.text_factory = text


def migrate(conn: sqlite3.Connection, path: Path, writable: bool = True) -> None:
    """Bring the file to SCHEMA_VERSION (under the write lock), or refuse a newer one."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise HootError(f"results database '{path}' has schema version {version}, this hoot reads up to "
                        f"{SCHEMA_VERSION}; upgrade hoot or pass another file with --db")
    if version == SCHEMA_VERSION:
        return
    if not writable and version >= 2:  # only additive steps remain: read it as it is
        log.info("results database '%s' has schema version %d and is read-only: read without upgrading", path, version)
        return
    if not writable:
        raise HootError(f"results database '{path}' has schema version {version} and cannot be written, so it "
                        f"cannot be upgraded to version {SCHEMA_VERSION}; make it writable once and run again")
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]  # another process may have migrated meanwhile
        if version == 0:
            _create(conn)
        elif version == 1:
            _v1_to_v2(conn)  # builds today's table: version 3's columns included
            log.info("upgraded results database '%s' from schema version 1 to %d", path, SCHEMA_VERSION)
        else:
            _add_missing_columns(conn)
            log.info("upgraded results database '%s' from schema version %d to %d", path, version, SCHEMA_VERSION)
        if 0 < version < 4:
            _mark_unfolded(conn)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
