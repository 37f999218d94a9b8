"""Latency order target (issue 19): for models in both torchvision and timm, hoot's CPU latency
order agrees with timm's published CPU benchmark order, Spearman rank correlation >= 0.85.

timm's table: results/benchmark-infer-fp32-nchw-pt240-cpu-i7_12700h-dynamo.csv of timm's
repository (fp32, NCHW, PyTorch 2.4.0, Intel Core i7-12700H, batch 1; `infer_step_time` ms),
kept as tools/data/timm_benchmark_cpu_i7_12700h.csv (source and licence in tools/data/README.md).
hoot's side: `hoot bench` (the product path: child process, measure(), store) of the torchvision
builds at the same input size, batch 1, eager fp32; the figures are read back from the store.
A pair is a torchvision builder and the timm model of the same architecture (same name, or the
ALIASES below); only pairs timm's table lists at the chosen size take part. Rank order across
two different CPUs is what is compared, not milliseconds. Needs a quiet machine for figures.

    .venv/bin/python benchmarks/timm_order.py                      # every pair at 224 px (minutes)
    .venv/bin/python benchmarks/timm_order.py --models resnet18,mobilenet_v3_small,efficientnet_b0 --quick
    .venv/bin/python benchmarks/timm_order.py --db results.sqlite --no-measure   # rank stored rows only
"""

from __future__ import annotations

import argparse
import csv
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "tools" / "data" / "timm_benchmark_cpu_i7_12700h.csv"
TABLE_NAME = "timm results/benchmark-infer-fp32-nchw-pt240-cpu-i7_12700h-dynamo.csv"
TARGET = 0.85

#: torchvision builder -> timm model of the same architecture, where the names differ
ALIASES = {
    "mobilenet_v2": "mobilenetv2_100", "mobilenet_v3_large": "mobilenetv3_large_100",
    "mobilenet_v3_small": "mobilenetv3_small_100", "mnasnet1_0": "mnasnet_100",
    "regnet_x_400mf": "regnetx_004", "regnet_x_800mf": "regnetx_008", "regnet_x_1_6gf": "regnetx_016",
    "regnet_x_3_2gf": "regnetx_032", "regnet_x_8gf": "regnetx_080", "regnet_x_16gf": "regnetx_160",
    "regnet_x_32gf": "regnetx_320", "regnet_y_400mf": "regnety_004", "regnet_y_800mf": "regnety_008",
    "regnet_y_1_6gf": "regnety_016", "regnet_y_3_2gf": "regnety_032", "regnet_y_8gf": "regnety_080",
    "regnet_y_16gf": "regnety_160", "regnet_y_32gf": "regnety_320",
}


def timm_step_ms(size: int) -> dict[str, float]:
    """timm model -> published batch-1 step time (ms) at `size` px."""
    with open(TABLE, newline="", encoding="utf-8") as fh:
        return {r["model"]: float(r["infer_step_time"]) for r in csv.DictReader(fh)
                if int(r["infer_img_size"]) == size and int(r["infer_batch_size"]) == 1}


def pairs(size: int, only: list[str] | None) -> dict[str, str]:
    """torchvision builder -> timm model, for the architectures both have and timm's table lists at `size`."""
    from hoot.advisor.catalog import load_catalog

    published = timm_step_ms(size)
    catalog = load_catalog()
    tv = [v.name for v in catalog if v.provided and v.source == "torchvision" and v.kind == "classification"]
    out = {n: ALIASES.get(n, n) for n in tv if ALIASES.get(n, n) in published}
    if only:
        missing = [n for n in only if n not in out]
        if missing:
            raise SystemExit(f"timm_order: {', '.join(missing)} not in both (at {size} px); pairs: {', '.join(out)}")
        out = {n: out[n] for n in only}
    return out


def hoot_latency_ms(db: Path, names: list[str], size: int, threads: int | None) -> dict[str, float]:
    """Latest ok batch-1 eager fp32 CPU latency per variant at `size` px in the store."""
    conn = sqlite3.connect(db)
    rows = conn.execute(
        "SELECT variant, latency_ms, threads FROM measurements WHERE status = 'ok' AND mode = 'inference' AND "
        "device = 'cpu' AND dtype = 'fp32' AND batch_size = 1 AND runtime = 'eager' AND input_size = ? "
        "ORDER BY measured_at", (size,)).fetchall()
    return {v: ms for v, ms, t in rows if v in names and (threads is None or t == threads)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", help="comma-separated torchvision names (default: every pair)")
    ap.add_argument("--input-size", type=int, default=224)
    ap.add_argument("--threads", type=int, help="torch threads for hoot bench (default: hoot's)")
    ap.add_argument("--quick", action="store_true", help="hoot bench --quick (a check of the script, not a figure)")
    ap.add_argument("--db", help="results store to use (default: a temporary one)")
    ap.add_argument("--no-measure", action="store_true", help="only rank what --db already holds")
    args = ap.parse_args(argv)

    chosen = pairs(args.input_size, args.models.split(",") if args.models else None)
    db = Path(args.db) if args.db else Path(tempfile.mkdtemp(prefix="hoot-timm-order-")) / "bench.sqlite"
    if not args.no_measure:
        cmd = [sys.executable, "-m", "hoot.cli.main", "bench", "--models", ",".join(chosen), "--device", "cpu",
               "--input-size", str(args.input_size), "--db", str(db)]
        cmd += ["--quick"] if args.quick else []
        cmd += ["--threads", str(args.threads)] if args.threads else []
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    ours = hoot_latency_ms(db, list(chosen), args.input_size, args.threads)
    published = timm_step_ms(args.input_size)
    frame = pd.DataFrame([{"torchvision": n, "timm": t, "hoot_ms": ours[n], "timm_ms": published[t]}
                          for n, t in chosen.items() if n in ours])
    if len(frame) < 3:
        raise SystemExit(f"timm_order: {len(frame)} pair(s) measured; need at least 3 for a rank correlation")
    frame["hoot_rank"] = frame["hoot_ms"].rank()
    frame["timm_rank"] = frame["timm_ms"].rank()
    rho = frame["hoot_ms"].corr(frame["timm_ms"], method="spearman")
    print(frame.sort_values("timm_ms").to_markdown(index=False, floatfmt=".4g"))
    print(f"\nSpearman rank correlation, hoot (this machine, {args.input_size} px, batch 1, eager fp32"
          f"{', --quick' if args.quick else ''}) vs {TABLE_NAME}: {rho:.3f} over {len(frame)} models "
          f"(target >= {TARGET}: {'met' if rho >= TARGET else 'not met'})")
    return 0 if rho >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
