"""Fidelity target: hoot's batch-1 CPU latency against torch.utils.benchmark, and run-to-run agreement.

For each model, side by side in one run and interleaved (hoot A, Timer, hoot B), at the
same thread count:
  - hoot A and hoot B: `hoot bench`'s own path (child process, default budget) into a
    throwaway store, measured twice back to back;
  - Timer: torch.utils.benchmark.Timer(...).adaptive_autorange() median, in a fresh child
    process from the same fork server (so both sides measure in a new process).
Targets: |A / Timer - 1| <= 5 % and |B / A - 1| <= 5 %. A last column separates the
method from the process: hoot's timing loop run right after Timer in Timer's process. Rounds repeat the whole
interleaving (--rounds N); the table shows each round with the machine's load average,
so noise from other work on a shared machine shows, and a last table judges the
per-model medians over the rounds.

    .venv/bin/python benchmarks/bench_fidelity.py [--threads 2] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

import torch
import torch.utils.benchmark as tbench

from hoot.advisor.catalog import load_catalog
from hoot.advisor.render import render
from hoot.bench.measure import FULL, CPUTimer, measure
from hoot.bench.models import build_model
from hoot.advisor.devices import usable_cores
from hoot.bench.child import mp_context
from hoot.bench.runner import RunOptions, plan_jobs, run_jobs
from hoot.bench.store import ResultStore

MODELS = ["resnet18", "mobilenet_v3_small", "efficientnet_b0", "shufflenet_v2_x1_0"]


def hoot_median(name: str, threads: int, db: Path) -> float:
    catalog = load_catalog()
    settings = RunOptions(device="cpu", threads=threads, force=True)
    with ResultStore(db) as store:
        jobs, _, _ = plan_jobs([catalog.get(name)], settings, "fidelity", store)
        rows = run_jobs(jobs, store, "fidelity", progress=False, force=True)
    if rows[0]["status"] != "ok":
        raise SystemExit(f"{name}: {rows[0]['error']}")
    return rows[0]["latency_ms"]


def _timer_child(name: str, threads: int, conn) -> None:
    torch.set_num_threads(threads)
    model = build_model(name).eval()
    x = torch.randn(1, 3, 224, 224)

    def forward() -> None:
        with torch.inference_mode():
            model(x)

    import time

    start = time.perf_counter()  # the same warm-up hoot gives (>= 3 calls and >= 0.3 s): Timer has none
    calls = 0
    while calls < 3 or time.perf_counter() - start < 0.3:
        forward()
        calls += 1
    m = tbench.Timer(stmt="forward()", globals={"forward": forward}, num_threads=threads).adaptive_autorange(
        threshold=0.1, min_run_time=1.0, max_run_time=10.0)
    # the method alone: hoot's timing loop right after Timer, in the same process and state
    with torch.inference_mode():
        loop = measure(lambda: model(x), CPUTimer(), FULL)
    conn.send((m.median * 1e3, loop.median_ms))
    conn.close()


def timer_median(name: str, threads: int) -> tuple[float, float]:
    """Timer's median, in a fresh child from the same fork server hoot uses: both sides then
    measure in a new process (a long-lived process drifted 5-15 % slower on EfficientNet-B0).
    Returns (Timer median, hoot's loop median in that same process right after)."""
    ctx = mp_context()
    receiver, sender = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_timer_child, args=(name, threads, sender))
    p.start()
    sender.close()
    value = receiver.recv()
    p.join()
    return value


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=usable_cores())
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--models", default=",".join(MODELS))
    args = ap.parse_args()
    rows, misses = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "fidelity.sqlite"
        for rnd in range(1, args.rounds + 1):
            for name in args.models.split(","):
                a = hoot_median(name, args.threads, db)
                t, same = timer_median(name, args.threads)
                b = hoot_median(name, args.threads, db)
                vs_timer, a_vs_b = a / t - 1, b / a - 1
                ok = abs(vs_timer) <= 0.05 and abs(a_vs_b) <= 0.05
                misses += not ok
                rows.append({"round": rnd, "model": name, "threads": args.threads, "hoot_a_ms": a, "timer_ms": t,
                             "hoot_b_ms": b, "a_vs_timer_pct": 100 * vs_timer, "b_vs_a_pct": 100 * a_vs_b,
                             "within_5pct": ok, "loop_same_process_ms": same,
                             "loop_vs_timer_pct": 100 * (same / t - 1), "load_1min": os.getloadavg()[0]})
                print(f"{name}: hoot {a:.2f} / {b:.2f} ms, Timer {t:.2f} ms", file=sys.stderr, flush=True)
    print(render(rows, "markdown", floatfmt=".4g"))
    print(f"\n{len(rows) - misses}/{len(rows)} rounds within 5 % of Timer and of each other")
    summary, bad = [], 0
    for name in args.models.split(","):
        rs = [r for r in rows if r["model"] == name]
        a, t, b, same = (statistics.median(r[k] for r in rs)
                         for k in ("hoot_a_ms", "timer_ms", "hoot_b_ms", "loop_same_process_ms"))
        ok = abs(a / t - 1) <= 0.05 and abs(b / a - 1) <= 0.05
        bad += not ok
        summary.append({"model": name, "rounds": len(rs), "hoot_a_ms": a, "timer_ms": t, "hoot_b_ms": b,
                        "a_vs_timer_pct": 100 * (a / t - 1), "b_vs_a_pct": 100 * (b / a - 1), "within_5pct": ok,
                        "loop_vs_timer_same_process_pct": 100 * (same / t - 1)})
    print("\nMedians over the rounds:\n")
    print(render(summary, "markdown", floatfmt=".4g"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
