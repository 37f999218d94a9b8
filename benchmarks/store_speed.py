"""How fast the results store answers `bench show`, `advise` and `bench report` on 100,000 rows.

Builds a throwaway store of 100,000 valid rows (hoot.testing.bench_rows.make_row): 10
machines x 100 variants x 5 settings x 20 re-measurements, the history `--force` and
imports leave behind. Then times, median of 5 each (after one warm-up):

- show:   the latest row per settings key for one machine, and for all machines
- advice: `load_measurements` (one setting chosen by a GROUP BY, its rows read)
- report: every latest row of one machine grouped by setting (the plots' and tables' input)
- the installed `hoot bench show` and `hoot advise` commands end to end (process start included)

Target (issue 12): each under 1 s.

    .venv/bin/python benchmarks/store_speed.py [--rows 100000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from hoot.advisor.catalog import load_catalog
from hoot.bench.advice_rows import load_measurements
from hoot.bench.records import Measurement
from hoot.bench.selection import choose_rows, group_by_setting
from hoot.bench.store import ResultStore
from hoot.testing.bench_rows import make_row

SETTINGS = [dict(), dict(threads=1), dict(batch_size=8), dict(dtype="bf16"), dict(quick=True)]


def build(path: Path, total: int) -> str:
    variants = [v.name for v in load_catalog().provided()][:100]
    machines = [f"machine-{i:02d}-00000000" for i in range(10)]
    history = max(1, -(-total // (len(machines) * len(variants) * len(SETTINGS))))
    rows = []
    for m in machines:
        for v in variants:
            for s, over in enumerate(SETTINGS):
                for h in range(history):
                    rows.append(make_row(hardware_id=m, variant=v, latency_ms=1.0 + s + h / 100,
                                         measured_at=f"2026-01-{1 + h % 28:02d}T00:{s:02d}:{h % 60:02d}+00:00",
                                         **over))
    with ResultStore(path) as store:
        for m in machines:
            store.save_hardware({"hardware_id": m, "cpu_model": "synthetic"})
        store.import_rows(rows, source="synthetic")
    return machines[0]


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, float, float]:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), max(times)


def _hoot() -> list[str]:
    exe = Path(sys.executable).with_name("hoot")
    return [str(exe)] if exe.exists() else [shutil.which("hoot") or "hoot"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="hoot-store-speed-"))
    db = folder / "bench.sqlite"
    start = time.perf_counter()
    hid = build(db, args.rows)
    built_s = time.perf_counter() - start
    with ResultStore(db, readonly=True) as store:
        count = store.conn.execute("SELECT COUNT(*) FROM measurements").fetchone()[0]

    def show_one() -> object:
        with ResultStore(db, readonly=True) as store:
            return store.rows({"hardware_id": hid})

    def show_all() -> object:
        with ResultStore(db, readonly=True) as store:
            return store.rows()

    def advice() -> object:
        return load_measurements(str(db), hid)

    def report() -> object:
        with ResultStore(db, readonly=True) as store:
            ms = [Measurement.from_row(r) for r in store.rows({"hardware_id": hid})]
        return choose_rows(ms, None, allow_quick=True), group_by_setting(ms)

    env = {**os.environ, "HOOT_DATA_DIR": str(folder)}
    cli_show = _hoot() + ["bench", "show", "--db", str(db), "--hardware", hid, "--format", "csv"]
    cli_advise = _hoot() + ["advise", "--target", "cpu-server", "--db", str(db), "--hardware", hid]

    def run(cmd: list[str]) -> Callable[[], object]:
        return lambda: subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    cases = [("show, one machine (query)", show_one), ("show, all machines (query)", show_all),
             ("advice: load_measurements", advice), ("report: rows + settings", report),
             ("`hoot bench show` (process)", run(cli_show)), ("`hoot advise` (process)", run(cli_advise))]
    print(f"store: {count} rows, built in {built_s:.1f} s; median of {args.repeats} (min-max), target < 1 s")
    worst = 0.0
    for name, fn in cases:
        med, lo, hi = timed(fn, args.repeats)
        worst = max(worst, med)
        print(f"  {name:32s} {med * 1000:8.1f} ms  ({lo * 1000:.1f}-{hi * 1000:.1f})")
    shutil.rmtree(folder, ignore_errors=True)
    return 0 if worst < 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
