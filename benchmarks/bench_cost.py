"""Cost target: `hoot bench --quick` at batch 1 on the CPU against a plain timing loop, side by side.

Target (issue 9): `hoot bench --quick` over the 28 seed variants costs at most 1.5x a plain
loop over the same models in the same run (build, 10 warm-up calls, 40 timed calls, one
process, no isolation, no FLOPs, no store). Before this change: 47 s against 25.5 s (1.84x).
Also reported: where hoot's time goes outside the timed work (the rows' own `duration_s`
cover build + timing inside the child; the rest is the CLI, the probe, the child start,
FLOP counting and the store), and what one child start costs from the fork server against
a fresh interpreter that must import torch.

    .venv/bin/python benchmarks/bench_cost.py                 # the 28 seed variants
    .venv/bin/python benchmarks/bench_cost.py --models 8      # reduced scale: the first 8
    .venv/bin/python benchmarks/bench_cost.py --names resnet18,mobilenet_v3_small   # or chosen ones
"""

from __future__ import annotations

import argparse
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

PLAIN_LOOP = r"""
import sys, time, torch
from hoot.bench.models import build_model
from hoot.advisor.catalog import load_catalog
torch.set_num_threads(int(sys.argv[1]))
catalog = load_catalog()
t0 = time.perf_counter()
for name in sys.argv[2].split(","):
    v = catalog.get(name)
    model = build_model(name, pretrained=False, catalog=catalog).eval()
    x = torch.randn(1, 3, v.native_input_px, v.native_input_px)
    with torch.inference_mode():
        for _ in range(10):
            model(x)
        for _ in range(40):
            model(x)
print(time.perf_counter() - t0)
"""


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


def hoot_quick(names: list[str], threads: int) -> tuple[float, tuple]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "cost.sqlite"
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "hoot.cli", "bench", "--models", ",".join(names), "--quick",
                               "--device", "cpu", "--batch-size", "1", "--threads", str(threads), "--db", str(db),
                               "--format", "csv"], capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(proc.stderr[-2000:])
        figures = sqlite3.connect(db).execute(
            "SELECT SUM(timed_s), SUM(build_s), SUM(duration_s), SUM(status = 'ok'), COUNT(*) FROM measurements"
        ).fetchone()
    return wall, figures


def plain_loop(names: list[str], threads: int) -> tuple[float, float]:
    """(wall of the whole script including `import torch`, seconds inside its loop)."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", PLAIN_LOOP, str(threads), ",".join(names)],
                          capture_output=True, text=True, check=True)
    return time.perf_counter() - t0, float(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=28, help="how many seed variants (reduced scale below 28)")
    parser.add_argument("--names", help="comma-separated variants instead (reduced scale on a loaded machine)")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    args = parser.parse_args()
    names = args.names.split(",") if args.names else [v.name for v in load_catalog().seed_variants()][: args.models]
    load_before = os.getloadavg()[0]
    fork_s, spawn_s = start_cost("forkserver"), start_cost("spawn")
    print(f"child start: fork server {fork_s * 1e3:.0f} ms, spawn {spawn_s * 1e3:.0f} ms", file=sys.stderr, flush=True)
    loop_wall, loop_inside = plain_loop(names, args.threads)
    print(f"plain loop: {loop_wall:.1f} s ({loop_inside:.1f} s inside)", file=sys.stderr, flush=True)
    wall, (timed, build, duration, n_ok, n) = hoot_quick(names, args.threads)
    print(f"hoot bench --quick: {wall:.1f} s (rows' duration_s {duration or 0:.1f} s)", file=sys.stderr, flush=True)
    loop_wall_b, _ = plain_loop(names, args.threads)  # again after hoot: the load may have moved
    loop = statistics.mean([loop_wall, loop_wall_b])
    rows = [
        {"measure": "models (ok rows / rows)", "value": f"{n_ok} / {n} of {len(names)} seed variants"},
        {"measure": "hoot bench --quick, wall of the command (s)", "value": round(wall, 1)},
        {"measure": "plain loop, wall incl. import torch (s), before / after", "value": f"{loop_wall:.1f} / {loop_wall_b:.1f}"},
        {"measure": "plain loop, inside the loop (s)", "value": round(loop_inside, 1)},
        {"measure": "ratio hoot / plain loop (target <= 1.5)", "value": round(wall / loop, 2)},
        {"measure": "hoot: timed iterations (s)", "value": round(timed or 0, 1)},
        {"measure": "hoot: model builds (s)", "value": round(build or 0, 1)},
        {"measure": "hoot: rows' duration_s, build + timing in the child (s)", "value": round(duration or 0, 1)},
        {"measure": "hoot: outside the child's work (s)", "value": round(wall - (duration or 0), 1)},
        {"measure": "child start, fork server, torch preloaded (ms)", "value": round(fork_s * 1e3, 1)},
        {"measure": "child start, spawn + import torch (ms)", "value": round(spawn_s * 1e3, 1)},
        {"measure": "load average (1 min) before / after", "value": f"{load_before:.2f} / {os.getloadavg()[0]:.2f}"},
        {"measure": "CPU cores / threads", "value": f"{os.cpu_count()} / {args.threads}"},
    ]
    print(render(rows, "markdown"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
