"""TEMPORARY: the `AdviceRows` interface over the store as it is before helper "store"'s branch
(bench/advice_rows.py `load_measurements(db, hardware, wanted) -> AdviceRows`) merges.
`hoot.cli.advise_store` uses it only while `hoot.bench.advice_rows.AdviceRows` does not exist;
delete this module once it does."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class _AdviceRows:
    hardware: dict | None
    setting: Any
    rows: dict
    note: str | None
    other_settings: tuple = ()


def load_measurements(db: str | None, hardware: str, wanted: Any = None) -> _AdviceRows:
    from hoot.advisor.errors import HootError
    from hoot.advisor.paths import default_db_path
    from hoot.bench.records import Measurement
    from hoot.bench.store import ResultStore

    if db is not None and not Path(db).exists():
        raise HootError(f"results database '{db}' does not exist; run `hoot bench --db {db}` first or drop --db")
    path = Path(db) if db is not None else default_db_path()
    if not path.exists():
        if hardware != "this":
            raise HootError(f"hardware '{hardware}' is unknown: results database '{path}' does not exist")
        return _AdviceRows(None, None, {}, "no measurements for this machine in the results store")
    with ResultStore(path) as store:
        hid = store.resolve_hardware(hardware)
        info = {**(store.hardware(hid) or [{}])[0], **(store.hardware_info(hid) or {}), "hardware_id": hid}
        raw = list(store.rows({"hardware_id": hid, "status": "ok"}))
        others = [h for h in store.hardware_ids() if h != hid and store.rows({"hardware_id": h, "status": "ok"})]
    info.pop("rows", None)
    by_setting: dict[Any, dict[str, Any]] = {}
    for r in raw:
        row = {**r, "runtime": r.get("runtime") or "eager", "threads": r.get("threads"),
               "channels_last": bool(r.get("channels_last")), "quick": bool(r.get("quick"))}
        m = Measurement.from_row(row)
        s = dataclasses.replace(m.setting, input_size=None)
        by_setting.setdefault(s, {})[m.variant] = m
    if not by_setting:
        note = "no measurements for this machine in the results store: costs are estimates"
        if others:
            note += f"; results exist for {', '.join(others[:5])}: pass --hardware ID to use them"
        return _AdviceRows(None, None, {}, note)
    settings = sorted(by_setting, key=lambda s: -len(by_setting[s]))
    chosen = wanted if wanted is not None else settings[0]
    rows = by_setting.get(chosen, {})
    return _AdviceRows(info, chosen if rows else None, rows, None if rows else "no rows in that setting",
                       tuple(s for s in settings if s != chosen))
