"""The results store: one SQLite row per measurement, keyed by hardware and settings.

Plain sqlite3 and no torch, so `hoot advise` can read measured latencies cheaply. WAL
mode plus a busy timeout and one short transaction per row let two `hoot bench`
processes write to one file at once without losing a row, and a `claims` table lets them
share the work (each claims a settings key before measuring it). The schema is versioned
with `PRAGMA user_version` (`store_schema`); an older file is migrated, a newer one is
refused with a clear message. Rows are appended, never overwritten: `--force` adds a
newer row and readers take the latest per settings key, so history survives.

Rows cross this interface as `records.Measurement` (`measurements()`) or, where the
export files and the CLI tables need them, as dicts of `schema.ROW_COLUMNS` (`rows()`).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from hoot.advisor.errors import HootError
from hoot.advisor.paths import default_db_path, ensure_data_dir
from hoot.bench.records import DTYPES, KEY_COLUMNS, MODES, STATUSES, Measurement, SettingsKey
from hoot.bench.schema import (HARDWARE_COLUMNS, ROW_COLUMNS, SCHEMA_VERSION, from_sql, mark_unfolded, to_sql,
                               upgrade_row, validate_row)
from hoot.bench.store_schema import check_intact, check_is_hoots, migrate

__all__ = ["DTYPES", "MODES", "STATUSES", "SCHEMA_VERSION", "ResultStore", "utc_now", "validate_row"]


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _key_dict(key: SettingsKey | dict[str, Any]) -> dict[str, Any]:
    if isinstance(key, SettingsKey):
        return key.as_dict()
    key = upgrade_row(key)
    return {c: key.get(c, "eager" if c == "runtime" else None) for c in KEY_COLUMNS}


def claim_name(key: SettingsKey | dict[str, Any]) -> str:
    """A settings key as one text value (the claims table's primary key)."""
    d = _key_dict(key)
    return json.dumps([to_sql(c, d[c]) for c in KEY_COLUMNS])


def _read_only_reason(path: Path) -> str | None:
    """Why this existing file cannot be written, or None. A file with no write bits counts
    as read-only even for root: its owner marked it so."""
    if not os.access(path, os.W_OK) or not path.stat().st_mode & 0o222:
        return "the file is read-only"
    if not os.access(path.parent, os.W_OK):
        return f"its folder '{path.parent}' is not writable (SQLite writes a journal beside it)"
    return None


class ResultStore:
    """A results database file. Use as a context manager or call `close()`.

    `create=False` refuses a missing file; `readonly=True` opens for reading only, which
    works on a file the user may not write.
    """

    def __init__(self, path: str | Path | None = None, create: bool = True, readonly: bool = False):
        self.path = Path(path) if path is not None else default_db_path()
        if self.path.is_dir():
            raise HootError(f"results database '{self.path}' is a directory; pass a file path with --db")
        exists = self.path.exists()
        if not exists and (readonly or not create):
            raise HootError(f"results database '{self.path}' does not exist; run `hoot bench` first or pass --db")
        if not exists:
            parent = self.path.parent
            if path is None:
                ensure_data_dir()
            elif not parent.is_dir():
                raise HootError(f"results database '{self.path}': folder '{parent}' does not exist; "
                                "create it first or pass a --db path in an existing folder")
        reason = _read_only_reason(self.path) if exists else None
        if reason and not readonly:
            raise HootError(f"results database '{self.path}' cannot be written: {reason}; "
                            "make it writable or pass another file with --db")
        self.readonly = bool(reason) or readonly
        try:
            if reason:
                self.conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=60.0,
                                            isolation_level=None)
            else:
                self.conn = sqlite3.connect(str(self.path), timeout=60.0, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise HootError(f"cannot open results database '{self.path}' ({exc}); pass a writable path with --db") from None
        self.conn.row_factory = sqlite3.Row
        try:
            self.conn.execute("PRAGMA busy_timeout = 60000")
            check_is_hoots(self.conn, self.path)  # before WAL: another program's file is left as it was
            check_intact(self.conn, self.path)
            if not reason:
                self.conn.execute("PRAGMA journal_mode = WAL")
                self.conn.execute("PRAGMA synchronous = NORMAL")
            migrate(self.conn, self.path, writable=not reason)
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            if "not a database" in str(exc) or "malformed" in str(exc):
                raise HootError(f"'{self.path}' is not a hoot results database ({exc}); pass another file with --db") from None
            raise HootError(f"cannot open results database '{self.path}' ({exc}); pass another file with --db") from None
        except HootError:
            self.conn.close()
            raise

    def has_column(self, column: str) -> bool:
        """Does this file's measurements table have `column` (a read-only older file may not)?"""
        if not hasattr(self, "_columns"):
            self._columns = {r[1] for r in self.conn.execute("PRAGMA table_info(measurements)")}
        return column in self._columns

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    def _write(self) -> "_Transaction":
        return _Transaction(self.conn)

    # -- writing -----------------------------------------------------------------------
    def save_hardware(self, info: dict[str, Any]) -> None:
        """Store a machine's description once (first description wins, later ones are ignored)."""
        values = {c: info.get(c) for c in HARDWARE_COLUMNS}
        with self._write():
            self._insert_hardware(info["hardware_id"], values, info)

    def _insert_hardware(self, hid: str, values: dict[str, Any], info: dict[str, Any]) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO hardware (hardware_id, " + ", ".join(values) + ", info_json, first_seen) "
            "VALUES (?, " + ", ".join("?" for _ in values) + ", ?, ?)",
            [hid, *values.values(), json.dumps(info, default=str), utc_now()],
        )

    def _insert(self, clean: dict[str, Any]) -> int | None:
        cols = list(clean)
        cur = self.conn.execute(
            f"INSERT OR IGNORE INTO measurements ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
            [to_sql(c, clean[c]) for c in cols],
        )
        return cur.lastrowid if cur.rowcount else None

    def add(self, row: dict[str, Any] | Measurement) -> int | None:
        """Append one measurement (validated); returns its id, None when the same row is already stored."""
        clean, errors = validate_row(row.to_row() if isinstance(row, Measurement) else row)
        if errors:
            raise HootError("cannot store measurement: " + "; ".join(errors))
        with self._write():
            return self._insert(clean)

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

    # -- sharing the work between processes --------------------------------------------
    def claim(self, key: SettingsKey | dict[str, Any], owner: str, ttl_s: float) -> bool:
        """Claim a settings key for `owner` for `ttl_s` seconds; False while another owner's
        claim is live. Claiming again renews one's own claim. An expired claim (its owner
        crashed or hangs) is taken over."""
        name, now = claim_name(key), time.time()
        with self._write():
            held = self.conn.execute("SELECT owner, expires_at FROM claims WHERE key = ?", [name]).fetchone()
            if held is not None and _live_other(held, owner, now):
                return False
            self.conn.execute("INSERT OR REPLACE INTO claims (key, owner, expires_at) VALUES (?, ?, ?)",
                              [name, owner, now + ttl_s])
        return True

    def release(self, key: SettingsKey | dict[str, Any] | None, owner: str) -> None:
        """Drop `owner`'s claim on `key` (every claim of `owner` when key is None)."""
        with self._write():
            if key is None:
                self.conn.execute("DELETE FROM claims WHERE owner = ?", [owner])
            else:
                self.conn.execute("DELETE FROM claims WHERE key = ? AND owner = ?", [claim_name(key), owner])

    def claimed_by_other(self, key: SettingsKey | dict[str, Any], owner: str) -> bool:
        """Does a live claim of another owner hold this key?"""
        held = self.conn.execute("SELECT owner, expires_at FROM claims WHERE key = ?", [claim_name(key)]).fetchone()
        return held is not None and _live_other(held, owner, time.time())

    # -- reading -----------------------------------------------------------------------
    def has(self, key: SettingsKey | dict[str, Any], statuses: Sequence[str] = ("ok",)) -> bool:
        """Is a measurement with exactly these settings stored with one of `statuses`?

        Resume skips only `ok` rows taken on a quiet machine of the network as it ships: `oom` and
        `error` rows, rows marked contended (timed while other processes held the cores) and rows
        marked unfolded (schema.DEPLOY_FORMS) are measured again."""
        d = _key_dict(key)
        where = " AND ".join(f"{c} = ?" for c in KEY_COLUMNS)
        args = [to_sql(c, d[c]) for c in KEY_COLUMNS]
        quiet = " AND COALESCE(contended, 0) = 0" if self.has_column("contended") else ""
        if self.has_column("deploy_form"):  # timed in the training form before hoot folded it: measure again
            quiet += " AND COALESCE(deploy_form, '') != 'unfolded'"
        q = (f"SELECT 1 FROM measurements WHERE {where} AND status IN ({', '.join('?' for _ in statuses)}){quiet} "
             "LIMIT 1")
        return self.conn.execute(q, [*args, *statuses]).fetchone() is not None

    def rows(self, filters: dict[str, Any] | None = None, latest: bool = True,
             prefer_ok: bool = False) -> list[dict[str, Any]]:
        """Measurements matching `filters` (column -> value or list of values), oldest first.

        `latest` keeps only the newest row per settings key (what a re-run with --force
        replaced; with `prefer_ok`, the newest ok row, else the newest). One GROUP BY over
        the rows the key filters leave, then the winners' rows by id.
        """
        key_where, other_where, args, other_args = [], [], [], []
        filters = {k: v for k, v in (filters or {}).items() if v is not None}
        for col, value in upgrade_row(filters).items():
            if value is None:
                continue
            if col not in ROW_COLUMNS:
                raise HootError(f"unknown filter '{col}'")
            values = list(value) if isinstance(value, (list, tuple, set)) else [value]
            clause = f"{col} IN ({', '.join('?' for _ in values)})"
            if col in KEY_COLUMNS or not latest:
                key_where.append(clause)
                args.extend(to_sql(col, v) for v in values)
            else:
                other_where.append(clause)
                other_args.extend(to_sql(col, v) for v in values)
        where = (" WHERE " + " AND ".join(key_where)) if key_where else ""
        if latest:
            # one GROUP BY over the unique index (key..., measured_at): SQLite takes a bare column
            # from the row holding the MAX, and (key, measured_at) is unique, so that is one row
            newest = "(status = 'ok') || measured_at" if prefer_ok else "measured_at"
            newest = (f"SELECT id FROM (SELECT id, MAX({newest}) FROM measurements{where} "
                      f"GROUP BY {', '.join(KEY_COLUMNS)})")
            sql = f"SELECT * FROM measurements WHERE id IN ({newest})"
            if other_where:
                sql += " AND " + " AND ".join(other_where)
        else:
            sql = f"SELECT * FROM measurements{where}"
        out = []
        for r in self.conn.execute(sql + " ORDER BY id", [*args, *other_args]):
            out.append(mark_unfolded(from_sql(dict(r))))  # a read-only older file has no deploy_form column
        return out

    def measurements(self, filters: dict[str, Any] | None = None, latest: bool = True) -> list[Measurement]:
        """`rows()` as typed records."""
        return [Measurement.from_row(r) for r in self.rows(filters, latest)]

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
        seen = set(ids)
        for (hid,) in self.conn.execute("SELECT hardware_id FROM measurements GROUP BY hardware_id ORDER BY MIN(id)"):
            if hid not in seen:
                ids.append(hid)
                seen.add(hid)
        return ids

    def hardware_with_ok_rows(self) -> list[str]:
        """Hardware ids that have at least one ok measurement (one indexed query)."""
        have = {r[0] for r in self.conn.execute("SELECT DISTINCT hardware_id FROM measurements WHERE status = 'ok'")}
        return [h for h in self.hardware_ids() if h in have]

    def resolve_hardware(self, spec: str) -> str:
        """'this' or an id (or a unique prefix of one) -> a stored hardware id, else a HootError listing them."""
        from hoot.bench.hardware import current_hardware_id

        if spec == "this":
            return current_hardware_id()
        known = self.hardware_ids()
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

    def import_rows(self, rows: Any, source: str = "input", variants: set[str] | None = None) -> tuple[int, int]:
        """Validate every row, then store them all in one transaction (all or nothing).

        Returns (added, already_present). A bad row raises a HootError naming the row and
        field; with `variants`, a row for a model outside that set (the catalog) is bad too.
        """
        from hoot.bench.exchange import check_import_rows, check_rows_about_this_machine

        from hoot.bench.hardware import this_machine

        cleaned = check_import_rows(rows, source, variants)
        mine = this_machine()
        check_rows_about_this_machine(cleaned, mine, source)
        added = present = 0
        with self._write():
            for clean, hw in cleaned:
                hid = clean["hardware_id"]
                if hid == mine["hardware_id"]:  # this machine describes itself; a file never does it for it
                    self._insert_hardware(hid, {c: mine.get(c) for c in HARDWARE_COLUMNS}, mine)
                elif any(v is not None for v in hw.values()):
                    self._insert_hardware(hid, hw, {**hw, "hardware_id": hid, "imported_from": source})
                if self._insert(clean) is not None:
                    added += 1
                else:
                    present += 1
        return added, present


def owner_is_dead(owner: str) -> bool:
    """A claim's owner is 'HOST:PID'; on this host, a PID with no process is a dead owner (killed with
    -9, its claim never released), whose claim is taken over at once rather than after its expiry."""
    host, _, pid = owner.rpartition(":")
    if host != os.uname().nodename or not pid.isdigit():
        return False  # another machine's process: only its expiry tells
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, another user's
        return False
    return False


def _live_other(held: sqlite3.Row, owner: str, now: float) -> bool:
    return held["owner"] != owner and held["expires_at"] > now and not owner_is_dead(held["owner"])


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

