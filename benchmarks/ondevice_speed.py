"""Targets of the on-device runtimes (issue 22), measured side by side in one process:

- the fastest on-device runtime >= 3x faster than PyTorch eager fp32 at batch 1;
- INT8 >= 1.5x faster than fp32 in the same runtime (ExecuTorch/XNNPACK, LiteRT, OpenVINO);
- INT8 top-1 within 1 point of fp32 on the run's held-out split;
- the file `hoot optimize` writes loads afresh in the runtime's own Python API with the row's top-1.

For the seed mobile models (mobilenet_v3_small/large, shufflenet_v2_x1_0, efficientnet_b0) and three
modern mobile models of the catalog (mobilenetv4_conv_small, repvit_m0_9, lcnet_100), trained
FROM SCRATCH (no weights can be downloaded) on scikit-learn's digits through the real `hoot shortlist`
at 32 px (benchmarks/optimize_speed.py's data and training). Accuracy comes from the files `hoot
optimize`'s builders write at the training size; speed from the same conversion at --timing-px
(224: the deployment size; the models' global pooling takes any size). Timings are interleaved: each
round times one block of every variant in turn and a ratio is taken within a round, so load from other
processes hits both sides alike; the median over rounds is reported. Figures need a quiet machine.
Each INT8 row's change in top-1 comes with a 95 % paired bootstrap interval over the held-out images
and the counts of images only one side gets right: on a few hundred images one image is a quarter point.

    .venv/bin/python benchmarks/ondevice_speed.py [--models mobilenet_v3_small,...] [--rounds 7] [--threads 2]
    .venv/bin/python benchmarks/ondevice_speed.py --qat-epochs 2 [--work DIR]   # QAT's accuracy instead of timings

Needs the `ondevice` and `benchmarks` extras. Writes the table to stdout and JSON to --json.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from optimize_speed import digits_imagefolder, train  # noqa: E402 - the same data and training as optimize's targets

from hoot.bench.ondevice import RUNTIMES  # noqa: E402
from hoot.bench.ondevice.base import AccuracyGuard  # noqa: E402
from hoot.trainer.deploy.optimize import accuracy  # noqa: E402
from hoot.bench.measure import QUICK, measure_call  # noqa: E402
from hoot.trainer.deploy.optimize.scoring import top1  # noqa: E402
from hoot.trainer.deploy.optimize.ondevice_variants import ONDEVICE_BUILDERS, ONDEVICE_VARIANTS  # noqa: E402
from hoot.trainer.deploy.optimize.variants import BUILDERS, ONDEVICE, ONDEVICE_QAT, BuildContext, Skip  # noqa: E402

#: the timed variants: fp32 and post-training INT8 (the QAT files are the same graphs; --qat measures their accuracy)
POST_TRAINING = ONDEVICE

#: the seed mobile models, then three of today's mobile classifiers in the catalog (timm): MobileNetV4,
#: RepViT (folded for deployment) and LCNet (designed for CPUs)
MODELS = ("mobilenet_v3_small,mobilenet_v3_large,shufflenet_v2_x1_0,efficientnet_b0,"
          "mobilenetv4_conv_small,repvit_m0_9,lcnet_100")


def _median_ratio(a: list[float], b: list[float]) -> float:
    return round(statistics.median(x / y for x, y in zip(a, b)), 2)


def _correct(predict, images: np.ndarray, labels: np.ndarray, transform) -> np.ndarray:
    """Per held-out image: did `predict` rank its label first (for the paired INT8 - fp32 interval)."""
    out = [np.asarray(predict(transform(images[i:i + 32]))) for i in range(0, len(images), 32)]
    return np.concatenate([o[0] if o.ndim == 3 else o for o in out]).argmax(1) == labels


def paired_delta(fp32: np.ndarray, int8: np.ndarray, draws: int = 2000) -> dict:
    """INT8 - fp32 top-1 in points with a 95 % paired bootstrap interval over the held-out images, and
    the discordant counts (images only fp32 gets right / only INT8 gets right). On a few hundred
    images one image is a quarter point: the interval says whether a 1-point target is resolved."""
    rng = np.random.default_rng(0)
    idx = rng.integers(0, len(fp32), (draws, len(fp32)))
    deltas = 100 * (int8[idx].mean(1) - fp32[idx].mean(1))
    return {"ci95_pts": [round(float(np.percentile(deltas, 2.5)), 2), round(float(np.percentile(deltas, 97.5)), 2)],
            "only_fp32_right": int((fp32 & ~int8).sum()), "only_int8_right": int((int8 & ~fp32).sum())}


def measure_model(run_dir: Path, threads: int, rounds: int, timing_px: int, calibration_n: int,
                  variants: list[str] | None = None) -> dict:
    from hoot.trainer.deploy.trained import load_trained

    torch.set_num_threads(threads)
    model, meta = load_trained(run_dir)
    splits = accuracy.load_splits(run_dir)
    train_split, held = splits.train, splits.held
    mean, std, size = meta["mean"], meta["std"], int(meta["image_size"])
    cal = accuracy.normalise(accuracy.calibration_images(train_split, calibration_n, 0), mean, std)
    val = splits.validation
    norm = lambda u8: accuracy.normalise(u8, mean, std)  # noqa: E731 - uint8 images as the model takes them

    def guard_at(px: int):
        """OpenVINO INT8's accuracy guard on the validation split, at `px` (the file's input size)."""
        at_px = lambda u8: accuracy.resize_batch(norm(u8), px)  # noqa: E731
        g = accuracy.accuracy_guard(val, lambda p, im, t: top1(p, im, t, min(32, len(im)), transform=at_px), mean, std)
        return g and AccuracyGuard(g.count, lambda i: accuracy.resize_batch(g.input_of(i), px), g.score, g.max_drop)

    ctx = BuildContext(model, run_dir / "ondevice", size, cal, threads, torch.device("cpu"), guard=guard_at(size))
    x = accuracy.resize_batch(cal[:1], timing_px)
    timed, rows = {}, {}
    eager = BUILDERS["eager"](ctx)
    rows["eager"] = {"variant": "eager", "status": "ok", "precision": "fp32",
                     "top1": round(top1(eager.predict, held.images, held.labels, 32,
                                        transform=norm), 4)}
    timed["eager"] = eager.predict
    correct = {}
    for name in variants or POST_TRAINING:
        runtime_name, stem, int8, _ = ONDEVICE_VARIANTS[name]
        runtime = RUNTIMES[runtime_name]
        try:
            built = ONDEVICE_BUILDERS[name](ctx)  # what `hoot optimize` writes, at the training size
            acc = top1(built.predict, held.images, held.labels, 32, transform=norm)
            reloaded = runtime.load(built.file, threads)  # the shipped file, afresh, in the runtime's own API
            acc_file = top1(reloaded, held.images, held.labels, 32, transform=norm)
            if timing_px == size:
                timed[name] = built.predict
            else:
                path = runtime.convert(copy.deepcopy(model).cpu().eval(), torch.from_numpy(x),
                                       run_dir / "ondevice" / f"{stem}.{timing_px}px{runtime.suffix}",
                                       int8_calibration=[accuracy.resize_batch(cal, timing_px)] if int8 else None,
                                       int8_guard=guard_at(timing_px) if int8 and runtime.guards_accuracy else None)
                timed[name] = runtime.load(path, threads)
            correct[name] = _correct(built.predict, held.images, held.labels, norm)
            assert abs(correct[name].mean() - acc) < 1e-9, f"{name}: per-image top-1 {correct[name].mean()} != {acc}"
            rows[name] = {"variant": name, "status": "ok", "precision": built.precision, "top1": round(acc, 4),
                          "file_top1_same": abs(acc - acc_file) < 1e-9, "file": str(built.file)}
        except Skip as exc:
            rows[name] = {"variant": name, "status": "skipped", "reason": str(exc)}
        except Exception as exc:  # noqa: BLE001 - a runtime that cannot take the model is a row
            rows[name] = {"variant": name, "status": "error", "reason": f"{type(exc).__name__}: {str(exc)[:200]}"}
        print(f"# {run_dir.name} {name}: {rows[name]}", file=sys.stderr, flush=True)
    for predict in timed.values():
        predict(x)  # first call (allocation, delegate set-up) outside the timed rounds
    per_round: dict[str, list[float]] = {n: [] for n in timed}
    for _ in range(rounds):
        for name, predict in timed.items():
            per_round[name].append(measure_call(lambda p=predict: p(x), threads, QUICK).median_ms)
    for name, times in per_round.items():
        rows[name]["latency_ms"] = round(statistics.median(times), 3)
        rows[name]["speedup_vs_eager"] = _median_ratio(per_round["eager"], times)
    ratios: dict = {}
    for name, (runtime_name, _, int8, _) in ONDEVICE_VARIANTS.items():
        fp32 = next(n for n, v in ONDEVICE_VARIANTS.items() if v[0] == runtime_name and not v[2])
        if int8 and name in per_round and fp32 in per_round:
            ratios[f"{name}_vs_fp32"] = _median_ratio(per_round[fp32], per_round[name])
            ratios[f"{name}_top1_delta_pts"] = round(100 * (rows[name]["top1"] - rows[fp32]["top1"]), 2)
            ratios[f"{name}_paired"] = paired_delta(correct[fp32], correct[name])
    ondevice = [r for n, r in rows.items() if n != "eager" and r.get("latency_ms")]
    fastest = min(ondevice, key=lambda r: r["latency_ms"]) if ondevice else None
    ratios["fastest"] = fastest and fastest["variant"]
    ratios["fastest_vs_eager"] = fastest and fastest["speedup_vs_eager"]
    int8_speed = [v for k, v in ratios.items() if k.endswith("_vs_fp32")]
    int8_delta = [v for k, v in ratios.items() if k.endswith("_top1_delta_pts")]
    targets = {"fastest on-device >= 3x eager": bool(fastest) and fastest["speedup_vs_eager"] >= 3.0,
               "int8 >= 1.5x fp32 (best runtime)": bool(int8_speed) and max(int8_speed) >= 1.5,
               "int8 within 1 point (every runtime)": bool(int8_delta) and all(abs(d) <= 1.0 for d in int8_delta),
               "files reload with the same top-1": all(r.get("file_top1_same", True) for r in rows.values())}
    return {"model": meta["variant"], "train_px": size, "timing_px": timing_px, "threads": threads,
            "held_out": held.name, "held_out_images": len(held), "calibration_images": int(len(cal)),
            "rows": list(rows.values()), "ratios": ratios, "targets": targets}


def qat_study(run_dir: Path, threads: int, calibration_n: int, epochs: int, lr: float) -> dict:
    """Accuracy of quantisation-aware INT8 against post-training INT8 and fp32, per runtime, on the held-out split.

    QAT trains the model further, so beside the fp32 model the run shipped it is set against an fp32 CONTROL that
    takes the same fine-tune (qat.QatFinetune on the float model: same steps, seed, augmentation, loss, frozen
    BatchNorm, epoch kept by validation). QAT - control is what int8 itself costs after QAT; QAT - fp32 is what the
    user gets against the file they had. Every change comes with its paired 95 % interval."""
    from hoot.trainer.deploy.optimize.run import OptimizeOptions, qat_factory
    from hoot.trainer.deploy.trained import load_trained
    from hoot.trainer.tasks import get_task

    torch.set_num_threads(threads)
    model, meta = load_trained(run_dir)
    task = get_task(meta["task"])
    splits = accuracy.load_splits(run_dir)
    held = splits.held
    mean, std, size = meta["mean"], meta["std"], int(meta["image_size"])
    norm = lambda u8: accuracy.normalise(u8, mean, std)  # noqa: E731
    cal = norm(accuracy.calibration_images(splits.train, calibration_n, 0))

    def score(predict, images, targets) -> float:
        return top1(predict, images, targets, min(32, len(images)), transform=norm)

    factory = qat_factory(run_dir, task, splits, mean, std, score, OptimizeOptions(qat_epochs=epochs, qat_lr=lr))
    guard = accuracy.accuracy_guard(splits.validation, score, mean, std)
    ctx = BuildContext(model, run_dir / "ondevice-qat", size, cal, threads, torch.device("cpu"), task=task, guard=guard,
                       qat=factory)
    correct = {"fp32": _correct(BUILDERS["eager"](ctx).predict, held.images, held.labels, norm)}
    control = copy.deepcopy(model).cpu().eval()
    fine = factory()
    fine(control)
    correct["fp32-control"] = _correct(lambda x: control(torch.from_numpy(x)).detach().numpy(), held.images,
                                       held.labels, norm)
    rows = {"fp32": {"top1": round(float(correct["fp32"].mean()), 4)},
            "fp32-control": {"top1": round(float(correct["fp32-control"].mean()), 4), "qat": fine.record}}
    for name in [v for v in ONDEVICE if v.endswith("-int8")] + list(ONDEVICE_QAT):
        try:
            built = ONDEVICE_BUILDERS[name](ctx)
            correct[name] = _correct(built.predict, held.images, held.labels, norm)
            reloaded = RUNTIMES[built.runtime].load(built.file, threads)
            rows[name] = {"top1": round(float(correct[name].mean()), 4),
                          "file_top1_same": bool((_correct(reloaded, held.images, held.labels, norm) == correct[name]).all()),
                          "qat": built.details.get("qat")}
        except Exception as exc:  # noqa: BLE001 - a runtime that cannot take the model is a row
            rows[name] = {"status": "error", "reason": f"{type(exc).__name__}: {str(exc)[:200]}"}
        print(f"# {run_dir.name} {name}: {rows[name]}", file=sys.stderr, flush=True)
    deltas = {}
    for name in correct:
        if "int8" in name:
            deltas[f"{name} - fp32"] = {"pts": round(100 * float(correct[name].mean() - correct["fp32"].mean()), 2),
                                        **paired_delta(correct["fp32"], correct[name])}
        if name.endswith("-qat"):
            deltas[f"{name} - fp32-control"] = {
                "pts": round(100 * float(correct[name].mean() - correct["fp32-control"].mean()), 2),
                **paired_delta(correct["fp32-control"], correct[name])}
    return {"model": meta["variant"], "train_px": size, "held_out_images": len(held), "qat_epochs": epochs,
            "qat_lr": lr, "rows": rows, "deltas": deltas}


def trained_runs(work: Path, models: list[str], epochs: int, threads: int):
    """Each model's run on the digits (trained once; a --work folder keeps them between invocations)."""
    data = work / "digits"
    if not data.is_dir():
        digits_imagefolder(data, 64)
    for m in models:
        if not (work / "runs" / m / "best.pt").is_file():
            train(data, work / "runs", m, epochs, threads)
        yield work / "runs" / m


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag, kind, default, text in (
            ("--models", str, MODELS, "comma-separated catalog names"), ("--epochs", int, 16, "fine-tune epochs (16: the from-scratch models reach 0.8-0.9 test top-1, so an INT8 change is not lost in noise)"),
            ("--threads", int, 2, "threads for every runtime"), ("--rounds", int, 7, "interleaved timing rounds"),
            ("--timing-px", int, 224, "input size for the timings"),
            ("--calibration-images", int, 128, "training images that calibrate INT8"),
            ("--variants", str, None, "only these on-device variants beside eager, e.g. openvino,openvino-int8"),
            ("--work", str, None, "folder for the data and runs (default: a temporary one)"),
            ("--json", str, None, "write the results here too"),
            ("--qat-epochs", int, 0, "instead of timing: quantisation-aware INT8's accuracy with this many epochs, "
                                      "against post-training INT8, fp32 and an fp32 control with the same fine-tune"),
            ("--qat-lr", float, 1e-4, "QAT's learning rate (hoot optimize's default)")):
        ap.add_argument(flag, type=kind, default=default, help=text)
    a = ap.parse_args()
    variants = a.variants.split(",") if a.variants else None
    if unknown := sorted(set(variants or ()) - set(POST_TRAINING)):
        ap.error(f"--variants {','.join(unknown)}: not one of {','.join(POST_TRAINING)}")
    from tabulate import tabulate

    results = []
    for run_dir in trained_runs(Path(a.work or tempfile.mkdtemp(prefix="hoot-ondevice-")), a.models.split(","),
                                a.epochs, a.threads):
        if a.qat_epochs:
            res = qat_study(run_dir, a.threads, a.calibration_images, a.qat_epochs, a.qat_lr)
            results.append(res)
            print(f"\n{res['model']}: {res['held_out_images']} held-out images at {res['train_px']} px, QAT "
                  f"{res['qat_epochs']} epochs at lr {res['qat_lr']:g}")
            print(tabulate([[k, v.get("top1"), v.get("reason", "")] for k, v in res["rows"].items()],
                           headers=["variant", "top1", "reason"]))
            print(tabulate([[k, v["pts"], v["ci95_pts"], v["only_fp32_right"], v["only_int8_right"]]
                            for k, v in res["deltas"].items()],
                           headers=["change", "points", "95% paired", "only reference right", "only int8 right"]), flush=True)
            continue
        res = measure_model(run_dir, a.threads, a.rounds, a.timing_px, a.calibration_images, variants)
        results.append(res)
        cols = ["variant", "status", "precision", "latency_ms", "speedup_vs_eager", "top1", "file_top1_same", "reason"]
        print(f"\n{res['model']}: trained at {res['train_px']} px, timed at {res['timing_px']} px batch 1, "
              f"{res['threads']} threads, held-out {res['held_out_images']} images ({res['held_out']})")
        print(tabulate([[r.get(c) for c in cols] for r in res["rows"]], headers=cols))
        print("ratios:", res["ratios"])
        print("targets:", res["targets"], flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
