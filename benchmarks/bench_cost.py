"""Cost target: `hoot bench --quick` at batch 1 on the CPU against a plain loop doing the same calls.

Target (issue 9): `hoot bench --quick` over the 28 seed variants costs at most 1.5x a plain
loop over the same models in the same run (one process, no isolation, no FLOPs, no store).
Like for like: the loop builds each model and makes exactly the warm-up and timed calls
hoot made for it (read from hoot's run: the stored rows' `iterations` and the warm-up
counts hoot logs), at the same input size, batch and thread count. Before this change the
loop was fixed (10 warm-up + 40 timed calls, more than `--quick` makes), so its ratio said
little; `--fixed-loop` still measures that one for comparison.

Both sides make the same calls, so on a machine whose load moves between the two runs the
second ratio is the steadier one: the loop's wall with hoot's overhead in place of its own.
Also printed: where hoot's time goes, measured by hoot itself (`--debug` logs a `phases`
record per job and per command, bench.phases): CLI start and imports, the probe (which
starts the fork server that imports torch), the hardware fingerprint, planning, per
model the build, warm-up, timed calls, FLOP count, fvcore cross-check, memory readout,
heap trims, store writes and the child's round trip, and the exit.

    .venv/bin/python benchmarks/bench_cost.py                 # the 28 seed variants
    .venv/bin/python benchmarks/bench_cost.py --models 8      # reduced scale: the first 8
    .venv/bin/python benchmarks/bench_cost.py --names resnet18,mobilenet_v3_small   # or chosen ones
    .venv/bin/python benchmarks/bench_cost.py --source timm   # issue 19: the timm models (34 classifiers)
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hoot.advisor.catalog import load_catalog
from hoot.advisor.render import render
from hoot.bench.phases import parse_phases

#: the same calls hoot made, per model: build, `warmup` untimed calls, `iterations` timed calls
MATCHED_LOOP = r"""
import json, sys, time
t_start = time.perf_counter()
import torch
from hoot.bench.models import build_model, deployable
from hoot.advisor.catalog import load_catalog
torch.set_num_threads(int(sys.argv[1]))
plan = json.loads(sys.argv[2])
catalog = load_catalog()
t0 = time.perf_counter()
out = {"import_s": t0 - t_start, "build_s": 0.0, "warmup_s": 0.0, "timed_s": 0.0, "calls": 0}
for name, size, warmup, iterations in plan:
    t = time.perf_counter()
    model = deployable(build_model(name, pretrained=False, catalog=catalog).eval(), inplace=True)  # as bench times it
    x = torch.randn(1, 3, size, size)
    out["build_s"] += time.perf_counter() - t
    with torch.inference_mode():
        t = time.perf_counter()
        for _ in range(warmup):
            model(x)
        out["warmup_s"] += time.perf_counter() - t
        t = time.perf_counter()
        for _ in range(iterations):
            model(x)
        out["timed_s"] += time.perf_counter() - t
    out["calls"] += warmup + iterations
out["loop_s"] = time.perf_counter() - t0
print(json.dumps(out))
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


def hoot_quick(names: list[str], threads: int) -> dict[str, Any]:
    """Run `hoot --debug bench --quick` on a fresh store; its wall, phases and stored rows."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "cost.sqlite"
        launched, t0 = time.time(), time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "hoot.cli", "--debug", "bench", "--models", ",".join(names),
                               "--quick", "--device", "cpu", "--batch-size", "1", "--threads", str(threads),
                               "--db", str(db), "--format", "csv"], capture_output=True, text=True)
        wall, ended = time.perf_counter() - t0, time.time()
        if proc.returncode != 0:
            raise SystemExit(proc.stderr[-2000:])
        conn = sqlite3.connect(db)
        conn.row_factory = sqlite3.Row
        rows = [dict(r) for r in conn.execute("SELECT * FROM measurements ORDER BY id")]
        conn.close()
    return {"wall": wall, "launched": launched, "ended": ended, "rows": rows,
            "phases": parse_phases(proc.stderr.replace("\r", "\n").splitlines())}


def matched_plan(run: dict[str, Any]) -> list[tuple[str, int, int, int]]:
    """(variant, input size, warm-up calls, timed calls) for each model hoot measured."""
    warm = {p["variant"]: p["child"].get("counts", {}).get("warmup_iters", 0)
            for p in run["phases"] if p.get("scope") == "job"}
    return [(r["variant"], r["input_size"], warm.get(r["variant"], 0), r["iterations"] or 0)
            for r in run["rows"] if r["status"] == "ok"]


def plain_loop(plan: list[tuple[str, int, int, int]], threads: int) -> tuple[float, dict[str, float]]:
    """(wall of the whole script, including the interpreter and `import torch`; its own figures)."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", MATCHED_LOOP, str(threads), json.dumps(plan)],
                          capture_output=True, text=True, check=True)
    return time.perf_counter() - t0, json.loads(proc.stdout.strip().splitlines()[-1])


def breakdown(run: dict[str, Any]) -> list[tuple[str, float]]:
    """(phase, seconds) of one hoot run, from its `phases` records; the rest is what nothing claims."""
    cli = next((p for p in run["phases"] if p.get("scope") == "cli"), {"seconds": {}, "at": run["ended"]})
    entered = next((p["at"] for p in run["phases"] if p.get("scope") == "cli_entered"), run["launched"])
    jobs = [p for p in run["phases"] if p.get("scope") == "job"]
    child: dict[str, float] = {}
    parent: dict[str, float] = {}
    for job in jobs:
        for k, v in job["child"].get("seconds", {}).items():
            child[k] = child.get(k, 0.0) + v
        for k, v in job["parent"].get("seconds", {}).items():
            parent[k] = parent.get(k, 0.0) + v
    cs = cli["seconds"]
    in_job = ("load_builder", "build", "setup", "input", "memory", "warmup", "timed", "timing_loop", "release",
              "flops", "fvcore")
    out = [
        ("CLI start: interpreter, imports, option parsing", entered - run["launched"]),
        ("catalog load and model selection", cs.get("select", 0.0)),
        ("probe: fork server start (imports torch) + first child", cs.get("probe", 0.0)),
        ("hardware fingerprint", cs.get("hardware", 0.0)),
        ("plan (store open, resume check, FLOPs already stored)", cs.get("plan", 0.0)),
        ("child: builder import and catalog parse", child.get("load_builder", 0.0)),
        ("child: model build", child.get("build", 0.0)),
        ("child: eval / to(device) / compile", child.get("setup", 0.0)),
        ("child: inputs (and ONNX export)", child.get("input", 0.0)),
        ("child: warm-up calls", child.get("warmup", 0.0)),
        ("child: timed calls", child.get("timed", 0.0)),
        ("child: timing loop bookkeeping", child.get("timing_loop", 0.0)),
        ("child: peak-memory reset and readout", child.get("memory", 0.0)),
        ("child: release after each setting (gc)", child.get("release", 0.0)),
        ("child: FLOP count (torch flop counter)", child.get("flops", 0.0)),
        ("child: fvcore cross-check", child.get("fvcore", 0.0)),
        ("child: other work in the job", child.get("job", 0.0) - sum(child.get(k, 0.0) for k in in_job)),
        ("child: heap trim after each model", child.get("trim", 0.0)),
        ("parent: child restarts", parent.get("child_start", 0.0)),
        ("parent: store writes", parent.get("store", 0.0)),
        ("parent: claims and resume checks", parent.get("claims", 0.0)),
        ("parent: pipe and polling", parent.get("child_round_trip", 0.0) - child.get("job", 0.0)
         - child.get("trim", 0.0) - parent.get("store", 0.0) - parent.get("child_start", 0.0)),
        ("run: progress bar and the rest of run_jobs", cs.get("run", 0.0) - parent.get("child_round_trip", 0.0)
         - parent.get("claims", 0.0)),
        ("rows of the run, child stop, output", cs.get("rows", 0.0) + cs.get("close_child", 0.0) + cs.get("emit", 0.0)),
        ("exit (interpreter shutdown, fork server stop)", run["ended"] - cli["at"]),
    ]
    return [(name, round(seconds, 2)) for name, seconds in out]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=28, help="how many seed variants (reduced scale below 28)")
    parser.add_argument("--names", help="comma-separated variants instead (reduced scale on a loaded machine)")
    parser.add_argument("--source", choices=("timm",),
                        help="every provided classifier of this model source instead (issue 19: the new models)")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--json", help="also write the figures and the breakdown to this file")
    parser.add_argument("--fixed-loop", action="store_true",
                        help="also time the old fixed loop (10 warm-up + 40 timed calls per model)")
    args = parser.parse_args()
    names = args.names.split(",") if args.names else [v.name for v in load_catalog().seed_variants()][: args.models]
    if args.source:
        names = [v.name for v in load_catalog() if v.provided and v.source == args.source and v.kind == "classification"]
    load_before = os.getloadavg()[0]
    fork_s, spawn_s = start_cost("forkserver"), start_cost("spawn")
    print(f"child start: fork server {fork_s * 1e3:.0f} ms, spawn {spawn_s * 1e3:.0f} ms", file=sys.stderr, flush=True)
    run = hoot_quick(names, args.threads)
    rows = run["rows"]
    print(f"hoot bench --quick: {run['wall']:.1f} s", file=sys.stderr, flush=True)
    plan = matched_plan(run)
    loop_wall, loop = plain_loop(plan, args.threads)
    print(f"matched loop: {loop_wall:.1f} s", file=sys.stderr, flush=True)
    parts = breakdown(run)
    part = dict(parts)
    work = (part["child: model build"] + part["child: warm-up calls"] + part["child: timed calls"])
    loop_work = loop["build_s"] + loop["warmup_s"] + loop["timed_s"]
    n_ok = sum(r["status"] == "ok" for r in rows)
    calls = sum(w + i for _, _, w, i in plan)
    table = [
        {"measure": "models (ok rows / rows)", "value": f"{n_ok} / {len(rows)} of {len(names)} seed variants"},
        {"measure": "calls per run (warm-up + timed, both sides)", "value": f"{calls} ({loop['calls']} in the loop)"},
        {"measure": "hoot bench --quick, wall of the command (s)", "value": round(run["wall"], 1)},
        {"measure": "matched plain loop, wall incl. interpreter and import torch (s)", "value": round(loop_wall, 1)},
        {"measure": "ratio hoot / matched loop (target <= 1.5)", "value": round(run["wall"] / loop_wall, 2)},
        {"measure": "ratio with hoot's calls at the loop's speed: (loop wall - loop calls + hoot outside) / loop wall",
         "value": round((loop_wall + (run["wall"] - work) - (loop_wall - loop_work)) / loop_wall, 2)},
        {"measure": "hoot: build + warm-up + timed calls (s)", "value": round(work, 1)},
        {"measure": "loop: build + warm-up + timed calls (s)", "value": round(loop_work, 1)},
        {"measure": "hoot: wall outside build + warm-up + timed calls (s)", "value": round(run["wall"] - work, 1)},
        {"measure": "loop: wall outside build + warm-up + timed calls (s)", "value": round(loop_wall - loop_work, 1)},
        {"measure": "child start, fork server, torch preloaded (ms)", "value": round(fork_s * 1e3, 1)},
        {"measure": "child start, spawn + import torch (ms)", "value": round(spawn_s * 1e3, 1)},
    ]
    if args.fixed_loop:
        fixed = [(n, load_catalog().get(n).native_input_px, 10, 40) for n in names]
        fixed_wall, _ = plain_loop(fixed, args.threads)
        table.append({"measure": "old fixed loop (10 + 40 calls per model), wall (s); hoot / it",
                      "value": f"{fixed_wall:.1f}; {run['wall'] / fixed_wall:.2f}"})
    table += [
        {"measure": "load average (1 min) before / after", "value": f"{load_before:.2f} / {os.getloadavg()[0]:.2f}"},
        {"measure": "CPU cores / threads", "value": f"{os.cpu_count()} / {args.threads}"},
    ]
    print(render(table, "markdown"))
    print()
    print(render([{"where hoot's time went": k, "seconds": v} for k, v in parts], "markdown"))
    if args.json:
        Path(args.json).write_text(json.dumps({"names": names, "figures": table, "breakdown": dict(parts),
                                               "plan": plan, "loop": loop}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
