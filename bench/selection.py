"""One setting per ranking: which stored setting a ranking, report or comparison uses.

A setting is everything but hardware and model (`records.Setting`): device, precision,
batch, input size (None: each model at its native size), threads, layout, runtime,
budget and mode. Rows of two settings are never set side by side.

The default rule, when the caller leaves a field open (None), is stated once here:
among the full-budget (not --quick) inference settings stored for the hardware, take the
one with the most models measured ok; a preferred setting wins when it covers at least
half as many models as that one. Preferred, best first: on CUDA, half precision (fp16 or
bf16) at a throughput batch (> 1), eager; then batch 1 fp32 eager plain layout. Among
equals: the most models, then CUDA before CPU, native size, more threads, the newest.

Counting happens in SQL (one GROUP BY per hardware) and only the chosen setting's rows
are read, so a store of 100,000 rows answers in milliseconds.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from hoot.bench.records import Measurement, Setting

#: Setting's fields, each a column of the store
SETTING_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Setting))


@dataclass(frozen=True)
class StoredSetting:
    """A setting stored for one machine, with how many models it has ok rows for."""

    setting: Setting
    ok_variants: int
    newest: str


@dataclass(frozen=True)
class Chosen:
    """The one setting chosen, its rows (variant -> newest ok row, else newest failed row), and the rest."""

    setting: Setting | None
    rows: dict[str, Measurement]
    other_settings: tuple[Setting, ...]
    quick_only: bool = False  # only --quick rows matched, and the caller allowed them


def setting_of(m: Measurement, concrete_sizes: bool = False) -> Setting:
    """The setting of one measurement (input_size None where it ran at the model's native size)."""
    k = m.key
    native = bool(m.extra.get("native_input")) and not concrete_sizes
    return Setting(device=k.device, dtype=k.dtype, batch_size=k.batch_size, input_size=None if native else k.input_size,
                   threads=k.threads, channels_last=k.channels_last, runtime=k.runtime, quick=k.quick, mode=k.mode)


def matches(s: Setting, wanted: Setting | None, quick_ok: bool = False, any_size: bool = False) -> bool:
    """Does stored setting `s` fit what the caller asked? None fields of `wanted` are open,
    except input_size (None: native size); device 'cuda' fits any 'cuda:N'. --quick rows
    fit only when asked for (wanted.quick) or allowed (`quick_ok`)."""
    if s.quick and not (quick_ok or (wanted is not None and wanted.quick)):
        return False
    if wanted is None:
        return s.mode == "inference"
    for name in SETTING_FIELDS:
        want, have = getattr(wanted, name), getattr(s, name)
        if name == "input_size":
            if want != have and not (any_size and want is None):
                return False
        elif name == "quick":
            if want and not have:
                return False
        elif name == "device" and want is not None:
            if not (have == want or (":" not in want and have.split(":")[0] == want)):
                return False
        elif want is not None and want != have:
            return False
    return True


def preference(s: Setting) -> int:
    """2: the CUDA half-precision throughput batch; 1: batch 1 fp32 eager; 0: anything else."""
    if s.mode != "inference" or s.runtime != "eager":
        return 0
    if s.device.startswith("cuda") and s.dtype in ("fp16", "bf16") and s.batch_size > 1:
        return 2
    if s.batch_size == 1 and s.dtype == "fp32" and not s.channels_last:
        return 1
    return 0


def pick_setting(stored: list[StoredSetting], wanted: Setting | None = None, quick_ok: bool = False,
                 any_size: bool = False) -> Setting | None:
    """The one setting to rank on, by the rule in this module's docstring; None when nothing fits."""
    fits = [x for x in stored if x.ok_variants > 0 and matches(x.setting, wanted, quick_ok, any_size)]
    if not fits:
        return None
    most = max(x.ok_variants for x in fits)

    def rank(x: StoredSetting) -> tuple:
        eligible = 2 * x.ok_variants >= most
        s = x.setting
        return (preference(s) if eligible else 0, x.ok_variants, s.device.startswith("cuda"),
                s.input_size is None, s.threads or 0, x.newest)

    return max(fits, key=rank).setting


def stored_settings(store: Any, hardware_id: str, concrete_sizes: bool = False) -> list[StoredSetting]:
    """Every setting stored for a machine with its count of models measured ok (one GROUP BY)."""
    size = "input_size" if concrete_sizes else "CASE WHEN native_input THEN NULL ELSE input_size END"
    cols = "device, dtype, batch_size, size, threads, channels_last, runtime, quick, mode"
    sql = (f"SELECT device, dtype, batch_size, {size} AS size, threads, channels_last, runtime, quick, mode, "
           "COUNT(DISTINCT CASE WHEN status = 'ok' THEN variant END) AS ok_variants, MAX(measured_at) AS newest "
           f"FROM measurements WHERE hardware_id = ? GROUP BY {cols}")
    out = []
    for r in store.conn.execute(sql, [hardware_id]):
        s = Setting(device=r["device"], dtype=r["dtype"], batch_size=r["batch_size"], input_size=r["size"],
                    threads=r["threads"], channels_last=bool(r["channels_last"]), runtime=r["runtime"],
                    quick=bool(r["quick"]), mode=r["mode"])
        out.append(StoredSetting(s, r["ok_variants"], r["newest"] or ""))
    return sorted(out, key=lambda x: (-x.ok_variants, x.setting.label()))


def rows_of(store: Any, hardware_id: str, setting: Setting, concrete_sizes: bool = False) -> dict[str, Measurement]:
    """variant -> its newest ok row of exactly this setting, else its newest failed row."""
    filters = {name: getattr(setting, name) for name in SETTING_FIELDS if name != "input_size"}
    filters["hardware_id"] = hardware_id
    if setting.input_size is None:
        filters["native_input"] = True
    else:
        filters["input_size"] = setting.input_size
    out: dict[str, Measurement] = {}
    for row in store.rows(filters, latest=True, prefer_ok=True):
        if setting.input_size is not None and not concrete_sizes and row.get("native_input"):
            continue
        m = Measurement.from_row(row)
        old = out.get(m.variant)
        if old is None or (m.status == "ok", m.measured_at or "") > (old.status == "ok", old.measured_at or ""):
            out[m.variant] = m
    return out


def choose(store: Any, hardware_id: str, wanted: Setting | None = None, allow_quick: bool = False,
           any_size: bool = False) -> Chosen:
    """The setting to use for `hardware_id` and its rows. With `allow_quick` (reports and
    comparisons), --quick rows are used where no full-budget rows fit, and say so; with
    `any_size`, wanted.input_size None is open (any one size) instead of the native size."""
    concrete = wanted is not None and wanted.input_size is not None
    stored = stored_settings(store, hardware_id, concrete_sizes=concrete)
    setting = pick_setting(stored, wanted, any_size=any_size)
    quick_only = False
    if setting is None and allow_quick:
        setting = pick_setting(stored, wanted, quick_ok=True, any_size=any_size)
        quick_only = setting is not None and setting.quick
    others = tuple(x.setting for x in stored if x.setting != setting)
    if setting is None:
        return Chosen(None, {}, others)
    return Chosen(setting, rows_of(store, hardware_id, setting, concrete), others, quick_only)


def choose_rows(measurements: list[Measurement], wanted: Setting | None = None, allow_quick: bool = False) -> Chosen:
    """`choose` over measurements already in memory (one machine's), for callers without a store."""
    groups: dict[Setting, list[Measurement]] = {}
    concrete = wanted is not None and wanted.input_size is not None
    for m in measurements:
        groups.setdefault(setting_of(m, concrete), []).append(m)
    stored = [StoredSetting(s, len({m.variant for m in ms if m.status == "ok"}),
                            max(m.measured_at or "" for m in ms)) for s, ms in groups.items()]
    setting = pick_setting(stored, wanted)
    if setting is None and allow_quick:
        setting = pick_setting(stored, wanted, quick_ok=True)
    others = tuple(s for s in groups if s != setting)
    if setting is None:
        return Chosen(None, {}, others)
    rows: dict[str, Measurement] = {}
    for m in groups[setting]:
        old = rows.get(m.variant)
        if old is None or (m.status == "ok", m.measured_at or "") > (old.status == "ok", old.measured_at or ""):
            rows[m.variant] = m
    return Chosen(setting, rows, others, setting.quick)


def group_by_setting(measurements: list[Measurement]) -> dict[Setting, list[Measurement]]:
    """Measurements split by setting, the settings with the most models first."""
    groups: dict[Setting, list[Measurement]] = {}
    for m in measurements:
        groups.setdefault(setting_of(m), []).append(m)
    return dict(sorted(groups.items(), key=lambda kv: (-len({m.variant for m in kv[1]}), kv[0].label())))

