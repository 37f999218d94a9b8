"""Contention target: rows timed beside a CPU hog are marked contended, rows timed on a quiet machine are not.

Side by side and interleaved (quiet, hog, quiet, hog, ...): each round measures the same small
models through `hoot bench`'s own path (plan_jobs + run_jobs: the warm child, bench.measure, the
BusyMonitor) into a throwaway store, once on the machine as it is and once beside this
script's own hog (one process per usable core, each spinning). It reports every row (latency,
other processes' busy cores, contended) and the share of rows marked contended in each
condition. Targets: 100 % with the hog, 0 % quiet. The quiet figure needs a quiet machine:
with `--wait-quiet SECONDS` each quiet round first waits for one (and says so); on a shared
machine the quiet rows are rightly contended, and the script says the target was not met.

    .venv/bin/python benchmarks/contention.py [--models mobilenet_v3_small,resnet18] [--rounds 2]
        [--input-size 64] [--wait-quiet 60]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

from hoot.advisor.catalog import load_catalog
from hoot.advisor.devices import usable_cores
from hoot.advisor.render import render
from hoot.bench.contention import THRESHOLD_ENV, other_cores_threshold, wait_for_quiet
from hoot.bench.runner import RunOptions, plan_jobs, run_jobs
from hoot.bench.store import ResultStore

MODELS = ["mobilenet_v3_small", "resnet18", "shufflenet_v2_x0_5"]


def _spin() -> None:
    while True:
        pass


class Hog:
    """One spinning process per usable core, started and stopped by this script."""

    def __init__(self, n: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.procs = [ctx.Process(target=_spin, daemon=True) for _ in range(n)]

    def __enter__(self) -> "Hog":
        for p in self.procs:
            p.start()
        time.sleep(0.5)  # let the scheduler spread them
        return self

    def __exit__(self, *exc) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.join(5)


def measure_rows(models: list[str], threads: int, input_size: int, db: Path) -> list[dict]:
    catalog = load_catalog()
    options = RunOptions(device="cpu", threads=threads, input_size=input_size, quick=True, force=True)
    with ResultStore(db) as store:
        jobs, _, _ = plan_jobs([catalog.get(m) for m in models], options, "contention", store)
        return run_jobs(jobs, store, "contention", progress=False, force=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--input-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=usable_cores())
    ap.add_argument("--wait-quiet", type=float, default=0.0, help="seconds to wait for a quiet machine per quiet round")
    args = ap.parse_args()
    os.environ.pop(THRESHOLD_ENV, None)  # the stated threshold, not a test's
    models = args.models.split(",")
    cores = usable_cores()
    table = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "contention.sqlite"
        for rnd in range(1, args.rounds + 1):
            for condition in ("quiet", "hog"):
                if condition == "quiet" and args.wait_quiet > 0:
                    waited = wait_for_quiet(args.threads, args.wait_quiet)
                    print(f"# round {rnd}: {waited.describe()}", file=sys.stderr, flush=True)
                if condition == "hog":
                    with Hog(cores):
                        rows = measure_rows(models, args.threads, args.input_size, db)
                else:
                    rows = measure_rows(models, args.threads, args.input_size, db)
                for r in rows:
                    table.append({"round": rnd, "condition": condition, "model": r["variant"],
                                  "status": r["status"], "latency_ms": r.get("latency_ms"),
                                  "busy_other_cores": r.get("busy_other_cores"), "load_1min": r.get("load_1min"),
                                  "contended": r.get("contended")})
                print(f"# round {rnd} {condition}: " + ", ".join(
                    f"{r['variant']} {r.get('latency_ms') or 0:.2f} ms busy {r.get('busy_other_cores')}" for r in rows),
                    file=sys.stderr, flush=True)
    print(f"machine: {cores} usable cores; timing threads {args.threads}; threshold: other processes above "
          f"{other_cores_threshold()} core(s) beyond the {max(0, cores - args.threads)} the timing leaves free\n")
    print(render(table, "markdown", floatfmt=".4g"))
    shares = {}
    for condition in ("quiet", "hog"):
        rows = [r for r in table if r["condition"] == condition and r["status"] == "ok"]
        shares[condition] = 100.0 * sum(bool(r["contended"]) for r in rows) / max(1, len(rows))
        print(f"\n{condition}: {shares[condition]:.0f} % of {len(rows)} row(s) marked contended")
    met = shares["hog"] == 100.0 and shares["quiet"] == 0.0
    print(f"\ntargets (100 % with the hog, 0 % quiet): {'met' if met else 'NOT met'}"
          + ("" if met or shares["hog"] < 100 else " (the quiet rows need a quiet machine: try --wait-quiet 120)"))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
