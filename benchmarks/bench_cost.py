"""Cost target: `hoot bench --quick` over the 28 seed variants at batch 1 on the CPU.

Targets: the whole command within 2 minutes on a 2-core machine, and its total at most
3x the time spent in timed iterations plus model builds (both reported). Side by side
in the same run: what one child process costs to start from the fork server (torch
already imported) against a freshly spawned interpreter that must import torch, the
cost the fork server exists to avoid (x 28 models).

    .venv/bin/python benchmarks/bench_cost.py
"""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hoot.advisor.catalog import load_catalog
from hoot.advisor.render import render


def _child(conn) -> None:
    import torch  # noqa: F401 - the import is the cost being measured

    conn.send(os.getpid())
    conn.close()


def start_cost(method: str, n: int = 5) -> float:
    """Median seconds from starting a child to hearing from it (torch imported there)."""
    ctx = multiprocessing.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(["hoot.bench.worker"])
    times = []
    for _ in range(n + 1):
        r, w = ctx.Pipe(duplex=False)
        t0 = time.perf_counter()
        p = ctx.Process(target=_child, args=(w,))
        p.start()
        w.close()
        r.recv()
        times.append(time.perf_counter() - t0)
        p.join()
    return statistics.median(times[1:])  # the first forkserver start pays the server's own import


def main() -> int:
    seeds = [v.name for v in load_catalog().seed_variants()]
    load_before = os.getloadavg()[0]
    fork_s, spawn_s = start_cost("forkserver"), start_cost("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "cost.sqlite"
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "hoot.cli", "bench", "--models", ",".join(seeds), "--quick",
                               "--device", "cpu", "--batch-size", "1", "--db", str(db), "--format", "csv"],
                              capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            print(proc.stderr[-2000:], file=sys.stderr)
            return proc.returncode
        timed, build, n_ok, n = sqlite3.connect(db).execute(
            "SELECT SUM(timed_s), SUM(build_s), SUM(status = 'ok'), COUNT(*) FROM measurements").fetchone()
    rows = [
        {"measure": "models measured (ok / rows)", "value": f"{n_ok} / {n}"},
        {"measure": "wall time of the command (s)", "value": round(wall, 1)},
        {"measure": "timed iterations (s)", "value": round(timed, 1)},
        {"measure": "model builds (s)", "value": round(build, 1)},
        {"measure": "total / (timed + builds)", "value": round(wall / (timed + build), 2)},
        {"measure": "target: wall <= 120 s", "value": wall <= 120},
        {"measure": "target: ratio <= 3", "value": wall / (timed + build) <= 3},
        {"measure": "child start, fork server, torch preloaded (ms)", "value": round(fork_s * 1e3, 1)},
        {"measure": "child start, spawn + import torch (ms)", "value": round(spawn_s * 1e3, 1)},
        {"measure": "start cost saved over 28 models (s)", "value": round(28 * (spawn_s - fork_s), 1)},
        {"measure": "load average (1 min) before / after", "value": f"{load_before:.2f} / {os.getloadavg()[0]:.2f}"},
        {"measure": "CPU cores", "value": os.cpu_count()},
    ]
    print(render(rows, "markdown"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
