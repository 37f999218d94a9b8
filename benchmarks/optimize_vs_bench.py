"""Target: `hoot optimize`'s eager row within 10 % of `hoot bench` for the same model, size, batch and threads.

Both go through one measuring method (bench.measure.measure_call / measure, the same budget),
so the only differences left are the process (bench times in its warm child, optimize in the
calling process), the input (bench a torch tensor, optimize a numpy array converted per call)
and the head (bench builds the catalog model's 1000-class head, the run has its own classes).
Interleaved rounds (optimize, bench, optimize, bench, ...) so drift on the machine hits both;
the table shows each round with how busy the machine was, and the last line the median ratio.

Without `--run` the script trains a tiny run first (hoot shortlist on drawn shapes, a few
steps); pass a real run folder for a real figure. Figures need a quiet machine.

    .venv/bin/python benchmarks/optimize_vs_bench.py [--run reports/RUN] [--rounds 3] [--size 64] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from hoot.advisor.catalog import load_catalog
from hoot.advisor.devices import usable_cores
from hoot.advisor.render import render
from hoot.bench.runner import RunOptions, plan_jobs, run_jobs
from hoot.bench.store import ResultStore

TARGET = 0.10


def tiny_run(tmp: Path, model: str, size: int, threads: int) -> Path:
    """A run folder with best.pt: `model` trained a few steps on drawn shapes."""
    from hoot.cli.main import main
    from hoot.testing.images import make_imagefolder

    shapes = make_imagefolder(tmp / "shapes", per_class=20, size=size)
    code = main(["shortlist", str(shapes), "--candidates", model, "--no-pretrained", "--steps", "2",
                 "--batch-size", "8", "--image-size", str(size), "--full-epochs", "1", "--threads", str(threads),
                 "--output", str(tmp / "reports"), "--run-id", "tiny", "--format", "json"])
    if code != 0:
        raise SystemExit(f"training the tiny run failed (exit {code})")
    return tmp / "reports" / "tiny"


def optimize_eager(run: Path, size: int, batch: int, threads: int, quick: bool) -> dict:
    from hoot.trainer.deploy.optimize.run import OptimizeOptions, optimize_run

    opts = OptimizeOptions(variants=("eager",), calibration_images=8, batch_size=batch, threads=threads,
                           timing_px=size, device="cpu", quick=quick, out_dir=run / "optimize_vs_bench")
    row = optimize_run(run, opts).rows[0]
    if row.status != "ok":
        raise SystemExit(f"optimize eager: {row.status} ({row.reason})")
    return {"latency_ms": row.latency_ms, "busy_other_cores": row.busy_other_cores, "contended": row.contended}


def bench_eager(variant: str, size: int, threads: int, quick: bool, db: Path) -> dict:
    options = RunOptions(device="cpu", threads=threads, input_size=size, quick=quick, force=True)
    with ResultStore(db) as store:
        jobs, _, _ = plan_jobs([load_catalog().get(variant)], options, "optimize-vs-bench", store)
        row = run_jobs(jobs, store, "optimize-vs-bench", progress=False, force=True)[0]
    if row["status"] != "ok":
        raise SystemExit(f"bench {variant}: {row['status']} ({row.get('error')})")
    return {"latency_ms": row["latency_ms"], "busy_other_cores": row.get("busy_other_cores"),
            "contended": row.get("contended")}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", type=Path, help="a run folder with best.pt (default: train a tiny one)")
    ap.add_argument("--model", default="resnet18", help="for the tiny run")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=8, help="optimize's throughput batch (latency is batch 1 in both)")
    ap.add_argument("--threads", type=int, default=usable_cores())
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="both with bench's --quick budget")
    args = ap.parse_args()
    table = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        run = args.run or tiny_run(tmp, args.model, args.size, args.threads)
        from hoot.trainer.deploy.trained import load_trained

        variant = load_trained(run)[1]["variant"]
        db = tmp / "bench.sqlite"
        for rnd in range(1, args.rounds + 1):
            opt = optimize_eager(run, args.size, args.batch, args.threads, args.quick)
            ben = bench_eager(variant, args.size, args.threads, args.quick, db)
            ratio = opt["latency_ms"] / ben["latency_ms"]
            table.append({"round": rnd, "model": variant, "size_px": args.size, "threads": args.threads,
                          "optimize_ms": opt["latency_ms"], "bench_ms": ben["latency_ms"], "ratio": ratio,
                          "optimize_busy_cores": opt["busy_other_cores"], "bench_busy_cores": ben["busy_other_cores"],
                          "contended": bool(opt["contended"] or ben["contended"])})
            print(f"# round {rnd}: optimize {opt['latency_ms']:.3f} ms, bench {ben['latency_ms']:.3f} ms",
                  file=sys.stderr, flush=True)
    print(render(table, "markdown", floatfmt=".4g"))
    ratio = statistics.median(r["ratio"] for r in table)
    met = abs(ratio - 1) <= TARGET
    busy = sum(r["contended"] for r in table)
    print(f"\nmedian optimize/bench ratio: {ratio:.3f} (target within {TARGET:.0%}): {'met' if met else 'NOT met'}"
          + (f"; {busy} of {len(table)} round(s) contended: not a figure to report" if busy else ""))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
