"""The stored measurements advice ranks on: read from the results store for one machine.

Used by `hoot advise` and by the shortlist's candidate picking (both above this layer).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hoot.advisor.errors import HootError
from hoot.advisor.paths import default_db_path
from hoot.bench.store import ResultStore, measurements_for_advice


def load_measurements(db: str | None, hardware: str) -> tuple[dict[str, Any] | None, dict[str, dict[str, Any]], str | None]:
    """(hardware info, {variant: figures}, note) from the results store; no store means estimates."""
    if db is not None and not Path(db).exists():
        raise HootError(f"results database '{db}' does not exist; run `hoot bench --db {db}` first or drop --db")
    if db is not None and Path(db).is_dir():
        raise HootError(f"results database '{db}' is a directory; pass the SQLite file")
    info, rows = measurements_for_advice(db, hardware)
    note = None
    if not rows:
        who = "this machine" if hardware == "this" else f"hardware '{hardware}'"
        note = (f"no measurements for {who} in the results store: costs are estimates "
                "(run `hoot bench --target ...` to rank on measured latency)")
        others = _stored_hardware(db)
        if others:
            note += f"; results exist for {', '.join(others[:5])}: pass --hardware ID to use them"
    return info, rows, note


def _stored_hardware(db: str | None) -> list[str]:
    """Hardware ids the store has results for (empty when there is no store)."""
    path = Path(db) if db is not None else default_db_path()
    if not path.exists():
        return []
    with ResultStore(path) as store:
        return [h for h in store.hardware_ids() if store.rows({"hardware_id": h, "status": "ok"})]
