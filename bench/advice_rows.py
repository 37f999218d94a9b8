"""The stored measurements advice ranks on: ONE setting of one machine, read from the results store.

Used by `hoot advise` and by the shortlist's candidate picking (both above this layer).
A ranking never sets a GPU row beside CPU rows, two thread counts, two input sizes or a
--quick row beside full ones: `load_measurements` returns the rows of one `Setting`
(which one is chosen by `bench.selection`'s stated rule when the caller leaves fields
open) and names the other settings stored, so the output can mention them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hoot.advisor.errors import HootError
from hoot.advisor.paths import default_db_path
from hoot.bench.records import Measurement, Setting
from hoot.bench.selection import choose
from hoot.bench.store import ResultStore


@dataclass(frozen=True)
class AdviceRows:
    """What advice ranks on: the machine, the one setting its rows share, the rows, a note."""

    hardware: dict[str, Any] | None
    setting: Setting | None  # None when no rows
    rows: dict[str, Measurement]  # variant -> newest ok row of `setting` (else its newest failed row)
    note: str | None
    other_settings: tuple[Setting, ...] = ()  # every other setting stored for that hardware

    def ok_rows(self) -> dict[str, Measurement]:
        """variant -> its row, for the variants whose row is ok (what a ranking uses)."""
        return {name: m for name, m in self.rows.items() if m.status == "ok"}



def _who(hardware: str) -> str:
    return "this machine" if hardware == "this" else f"hardware '{hardware}'"


def load_measurements(db: str | None, hardware: str, wanted: Setting | None = None) -> AdviceRows:
    """The rows of one setting for `hardware` ('this', an id or a unique prefix).

    `wanted` pins the setting (its None fields are open: input_size None is the native
    size; the rest are resolved by `bench.selection`'s default rule); None picks the
    default setting. No store (the default path, 'this') means estimates: empty rows
    with a note. A --db that is missing or a folder is a HootError.
    """
    if db is not None and Path(db).is_dir():
        raise HootError(f"results database '{db}' is a directory; pass the SQLite file")
    if db is not None and not Path(db).exists():
        raise HootError(f"results database '{db}' does not exist; run `hoot bench --db {db}` first or drop --db")
    path = Path(db) if db is not None else default_db_path()
    if not path.exists():
        if hardware != "this":
            raise HootError(f"hardware '{hardware}' is unknown: results database '{path}' does not exist; "
                            "run `hoot bench` or `hoot bench import FILE` first")
        return AdviceRows(None, None, {}, _no_rows_note(hardware, wanted, [], ()), ())
    with ResultStore(path, readonly=True) as store:
        hid = store.resolve_hardware(hardware)
        chosen = choose(store, hid, wanted)
        if chosen.setting is None:
            others = [h for h in store.hardware_with_ok_rows() if h != hid]
            return AdviceRows(None, None, {}, _no_rows_note(hardware, wanted, others, chosen.other_settings),
                              chosen.other_settings)
        info = {**(store.hardware(hid) or [{}])[0], **(store.hardware_info(hid) or {})}
    info.pop("rows", None)
    info["hardware_id"] = hid
    return AdviceRows(info, chosen.setting, chosen.rows, _rows_note(chosen.rows), chosen.other_settings)


def _no_rows_note(hardware: str, wanted: Setting | None, other_hardware: list[str],
                  other_settings: tuple[Setting, ...]) -> str:
    who = _who(hardware)
    if wanted is not None and other_settings:
        note = (f"no measurements of {wanted.label()} for {who}: costs are estimates; stored settings: "
                + "; ".join(s.label() for s in other_settings[:4]))
    elif other_settings and all(s.quick for s in other_settings):
        note = (f"only --quick measurements are stored for {who}: costs are estimates "
                "(run `hoot bench` without --quick to rank on measured latency)")
    else:
        note = (f"no measurements for {who} in the results store: costs are estimates "
                "(run `hoot bench --target ...` to rank on measured latency)")
    if other_hardware:
        note += f"; results exist for {', '.join(other_hardware[:5])}: pass --hardware ID to use them"
    return note


def _names(names: list[str]) -> str:
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def _rows_note(rows: dict[str, Measurement]) -> str | None:
    """Say when figures are less certain: timings that hit their budget before settling, timings
    taken while other processes held the cores or the GPU (contended), and timings of a training form
    hoot now folds before timing (unfolded, from an older store)."""
    ok = [m for m in rows.values() if m.status == "ok"]
    unsettled = sorted(m.variant for m in ok if m.converged is False)
    busy = sorted(m.variant for m in ok if m.contended)
    notes = []
    if unsettled:
        notes.append(f"{len(unsettled)} of {len(ok)} measured latencies did not converge (the timing hit its budget): "
                     f"{_names(unsettled)}")
    if busy:
        notes.append(f"{len(busy)} of {len(ok)} measured latencies are contended (timed while other processes held "
                     f"the cores or the GPU; a `hoot bench` re-run on a quiet machine measures them again): "
                     f"{_names(busy)}")
    unfolded = sorted(m.variant for m in ok if m.extra.get("deploy_form") == "unfolded")
    if unfolded:
        notes.append(f"{len(unfolded)} of {len(ok)} measured latencies timed the training form, before hoot folded its "
                     f"train-time branches (slower than it ships; a `hoot bench` re-run measures them again): "
                     f"{_names(unfolded)}")
    return "; ".join(notes) or None
