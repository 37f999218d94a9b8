"""Targets of `hoot optimize` (issue 13), measured side by side in one process:

- the fastest deployment variant >= 3x faster than PyTorch eager fp32 at batch 1;
- INT8 >= 1.5x faster than fp32 in the same runtime (ONNX Runtime);
- INT8 top-1 within 1 point of fp32 on the run's held-out split.

For resnet18 and resnet50 trained FROM SCRATCH (no pretrained weights can be downloaded) on
scikit-learn's digits, upscaled to 64 px RGB images in an ImageFolder, through the real
`hoot shortlist` at 32 px. Accuracy is read at the training size (32 px); speed is timed at 224 px, the
deployment size the speed ratios are about (the ResNets' global pooling takes any size; the
weights do not change the cost). Timings are interleaved: each round times one block of every
variant in turn, and a ratio is taken within a round, so load from other processes on a shared
machine hits both sides of a ratio alike; the median over rounds is reported.

    .venv/bin/python benchmarks/optimize_speed.py [--models resnet18,resnet50] [--rounds 7] [--threads 2]

Needs scikit-learn (the `benchmarks` extra). Writes the table to stdout and JSON to --json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from hoot.bench import runtimes
from hoot.trainer.deploy.optimize import accuracy
from hoot.bench.measure import QUICK, measure_call
from hoot.trainer.deploy.optimize.scoring import top1
from hoot.trainer.deploy.optimize.variants import BUILDERS, BuildContext, Skip

TRAIN_PX = 32  # the digits are 8x8: 32 px keeps their detail and keeps from-scratch training short on 2 cores
VARIANTS = ("eager", "compile", "onnxruntime", "int8", "int8-qdq", "int8-pt2e")


def digits_imagefolder(root: Path, size: int) -> Path:
    """sklearn's 1,797 8x8 digits as size x size RGB PNGs, one folder per class."""
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    for i, (img, label) in enumerate(zip(d.images, d.target)):
        folder = root / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        arr = (img * (255.0 / 16.0)).astype(np.uint8)
        Image.fromarray(arr, "L").resize((size, size), Image.BILINEAR).convert("RGB").save(folder / f"{i:04d}.png")
    return root


def train(data: Path, out: Path, model: str, epochs: int, threads: int) -> Path:
    from hoot.cli.main import main

    args = ["shortlist", str(data), "--candidates", model, "--no-pretrained", "--image-size", str(TRAIN_PX), "--steps", "5",
            "--full-epochs", str(epochs), "--batch-size", "64", "--val-fraction", "0.3", "--threads", str(threads),
            "--output", str(out), "--run-id", model, "--format", "json"]
    code = main(args)
    if code != 0:
        raise SystemExit(f"training {model} failed (exit {code})")
    return out / model


def measure_model(run_dir: Path, threads: int, rounds: int, timing_px: int, calibration_n: int) -> dict:
    from hoot.trainer.deploy.trained import load_trained

    torch.set_num_threads(threads)
    model, meta = load_trained(run_dir)
    splits = accuracy.load_splits(run_dir)
    train_split, held = splits.train, splits.held
    mean, std = meta["mean"], meta["std"]
    cal = accuracy.normalise(accuracy.calibration_images(train_split, calibration_n, 0), mean, std)
    x = accuracy.resize_batch(cal[:1], timing_px)
    ctx = BuildContext(model, run_dir, int(meta["image_size"]), cal, threads, torch.device("cpu"))
    built, rows = {}, {}
    for name in VARIANTS:
        t0 = time.perf_counter()
        try:
            built[name] = BUILDERS[name](ctx)
            b = built[name]
            b.predict(x)  # compile for the timing shape outside the timed rounds
            acc = top1(b.predict, held.images, held.labels, 32, transform=lambda u8: accuracy.normalise(u8, mean, std))
            rows[name] = {"variant": name, "status": "ok", "runtime": b.runtime, "precision": b.precision,
                          "top1": round(acc, 4), "build_s": round(time.perf_counter() - t0, 1),
                          "ops": b.details.get("ops"), "file_mb": None if b.file is None else round(b.file.stat().st_size / 2**20, 2)}
        except Skip as exc:
            rows[name] = {"variant": name, "status": "skipped", "reason": str(exc)}
        except Exception as exc:  # noqa: BLE001 - a failed variant is a row
            rows[name] = {"variant": name, "status": "error", "reason": f"{type(exc).__name__}: {str(exc)[:200]}"}
        print(f"# {run_dir.name} {name}: {rows[name]}", file=sys.stderr, flush=True)
    per_round: dict[str, list[float]] = {n: [] for n in built}
    for _ in range(rounds):
        for name, b in built.items():
            per_round[name].append(measure_call(lambda: b.predict(x), threads, QUICK).median_ms)
    for name, times in per_round.items():
        rows[name]["latency_ms"] = round(statistics.median(times), 3)
        rows[name]["latency_p10_ms"] = round(float(np.percentile(times, 10)), 3)
        rows[name]["latency_p90_ms"] = round(float(np.percentile(times, 90)), 3)
        rows[name]["speedup_vs_eager"] = round(statistics.median(e / t for e, t in zip(per_round["eager"], times)), 2)
    ratios = {}
    if "int8" in per_round and "onnxruntime" in per_round:
        ratios["int8_vs_ort_fp32"] = round(statistics.median(f / q for f, q in zip(per_round["onnxruntime"], per_round["int8"])), 2)
    ok = [r for r in rows.values() if r.get("latency_ms")]
    fastest = min(ok, key=lambda r: r["latency_ms"])
    ratios["fastest"] = fastest["variant"]
    ratios["fastest_vs_eager"] = fastest["speedup_vs_eager"]
    if rows.get("int8", {}).get("top1") is not None:
        ratios["int8_top1_delta_pts"] = round(100 * (rows["int8"]["top1"] - rows["eager"]["top1"]), 2)
    targets = {"fastest >= 3x eager": ratios["fastest_vs_eager"] >= 3.0,
               "int8 >= 1.5x fp32 (ONNX Runtime)": ratios.get("int8_vs_ort_fp32", 0) >= 1.5,
               "int8 within 1 point": abs(ratios.get("int8_top1_delta_pts", 99)) <= 1.0}
    return {"model": meta["variant"], "train_px": int(meta["image_size"]), "timing_px": timing_px, "threads": threads,
            "held_out": held.name, "held_out_images": len(held), "calibration_images": int(len(cal)),
            "vnni": runtimes.cpu_has_vnni(), "rows": list(rows.values()), "ratios": ratios, "targets": targets}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="resnet18,resnet50")
    ap.add_argument("--epochs", default="resnet18=4,resnet50=3", help="fine-tune epochs per model")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--timing-px", type=int, default=224)
    ap.add_argument("--calibration-images", type=int, default=128)
    ap.add_argument("--work", default=None, help="folder for the data and runs (default: a temporary one)")
    ap.add_argument("--json", default=None, help="write the results here too")
    a = ap.parse_args()
    epochs = dict(kv.split("=") for kv in a.epochs.split(","))
    work = Path(a.work or tempfile.mkdtemp(prefix="hoot-optimize-"))
    data = work / "digits"
    if not data.is_dir():
        digits_imagefolder(data, 64)
    from tabulate import tabulate

    results = []
    for m in a.models.split(","):
        run_dir = work / "runs" / m
        if not (run_dir / "best.pt").is_file():
            train(data, work / "runs", m, int(epochs.get(m, 4)), a.threads)
        res = measure_model(run_dir, a.threads, a.rounds, a.timing_px, a.calibration_images)
        results.append(res)
        cols = ["variant", "status", "precision", "latency_ms", "latency_p10_ms", "latency_p90_ms", "speedup_vs_eager", "top1", "file_mb", "reason"]
        print(f"\n{res['model']}: trained at {res['train_px']} px, timed at {res['timing_px']} px batch 1, {res['threads']} threads, "
              f"VNNI {res['vnni']}, held-out {res['held_out_images']} images ({res['held_out']})")
        print(tabulate([[r.get(c) for c in cols] for r in res["rows"]], headers=cols))
        print("ratios:", res["ratios"])
        print("targets:", res["targets"])
        print("int8 ops:", next((r.get("ops") for r in res["rows"] if r["variant"] == "int8"), None), flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
