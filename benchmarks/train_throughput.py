"""Bake-off training throughput against the eager model-only bound, side by side in one run, on CPU and CUDA.

The bound: the same model's forward + backward + optimiser step (the same `Stepper`, so the
same precision and layout) on pre-made tensors already on the device, same batch and size;
no data work at all. The bake-off: `hoot.trainer.training.rung.BakeoffStream`, the inner loop of
`train_rung` (gather from the uint8 cache where it lives - the GPU when it fits - random
resized crop + flip via one roi_align call, normalise, step, the loss kept on the device).
Targets (issue 10): ratio >= 0.80 on an H100-class GPU, >= 0.90 on CPU.

The two are interleaved in short chunks (CHUNK steps of one, then CHUNK of the other, same
model and optimiser, each chunk closed by a synchronisation) and the ratio is the median of
the per-pair ratios: a load spike on a shared machine hits both halves of a pair alike.

    .venv/bin/python benchmarks/train_throughput.py [--devices cpu,cuda] [--sizes 64,224]
        [--batch 32] [--cuda-batch 128] [--pairs 15] [--chunk 4] [--precision auto]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from hoot.advisor.render import render
from hoot.testing.images import make_imagefolder
from hoot.trainer.training.bakeoff import BakeoffStream, build_candidate, prepare
from hoot.trainer.config import ShortlistConfig
from hoot.trainer.training.device_run import resolve_precision
from hoot.trainer.training.loop import Stepper
from hoot.trainer.tasks import make_loss
from hoot.trainer.training.strategy import make_optimizer

CANDIDATES = ["mobilenet_v3_small", "shufflenet_v2_x0_5", "squeezenet1_1", "resnet18"]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(ctx, name: str, pairs: int, chunk: int, precision_name: str) -> dict:
    dev, b = ctx.device, ctx.config.batch_size
    model = build_candidate(ctx, name)
    opt = make_optimizer(model, "adamw", 1e-3, 0.05)
    loss_fn = make_loss("classification")
    precision = resolve_precision(precision_name, model, opt, loss_fn, dev, b, ctx.image_size, ctx.num_classes, ctx.task)
    stepper = Stepper(model, opt, loss_fn, dev, lambda s: 1e-3, precision)
    stream = BakeoffStream(ctx, ctx.normalizer(name))
    x = torch.randn(b, 3, ctx.image_size, ctx.image_size, device=dev)  # pre-made, on the device
    y = torch.randint(0, ctx.num_classes, (b,), device=dev)
    model.train()
    step = 0
    for _ in range(3):  # warm-up both paths (allocator, cuDNN autotuning, the cache placement)
        stepper.step(x, y, 0)
        stream.step(stepper, step)
        step += 1
    stepper.meter.read()
    bound, pipe, ratios = [], [], []
    for _ in range(pairs):
        _sync(dev)
        t0 = time.perf_counter()
        for _ in range(chunk):
            stepper.step(x, y, 0)
        stepper.meter.read()  # the loops' one read per interval (a sync on CUDA)
        tb = chunk * b / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        n = 0
        for _ in range(chunk):
            n += stream.step(stepper, step)[1]
            step += 1
        stepper.meter.read()
        tp = n / (time.perf_counter() - t0)
        bound.append(tb)
        pipe.append(tp)
        ratios.append(tp / tb)
    ratios.sort()
    return {"device": dev.type, "size_px": ctx.image_size, "batch": b, "candidate": name, "precision": precision.label,
            "model_only_img_s": statistics.median(bound), "bakeoff_img_s": statistics.median(pipe),
            "ratio": statistics.median(ratios), "ratio_p10": ratios[len(ratios) // 10],
            "ratio_p90": ratios[(len(ratios) * 9) // 10]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", default="cpu,cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--sizes", default="64,224")
    ap.add_argument("--batch", type=int, default=32, help="batch on the CPU")
    ap.add_argument("--cuda-batch", type=int, default=128, help="batch on CUDA")
    ap.add_argument("--pairs", type=int, default=15)
    ap.add_argument("--chunk", type=int, default=4)
    ap.add_argument("--per-class", type=int, default=200)
    ap.add_argument("--precision", default="auto", help="auto (probe on CUDA, fp32 on CPU), probe, fp32, bf16, fp16")
    ap.add_argument("--candidates", default=",".join(CANDIDATES))
    ap.add_argument("--json", default=None, help="also write the rows here")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="hoot-throughput-"))
    names = args.candidates.split(",")
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        data = make_imagefolder(tmp / f"data{size}", per_class=args.per_class, size=size + 16)
        for device in args.devices.split(","):
            batch = args.cuda_batch if device.startswith("cuda") else args.batch
            cfg = ShortlistConfig(data_dir=str(data), candidates=names, pretrained=False, output=str(tmp / "runs"),
                                  run_id=f"tp{size}{device.replace(':', '')}", batch_size=batch, image_size=size,
                                  full_epochs=0, device=device)
            ctx = prepare(cfg, progress=False)
            rows += [measure(ctx, name, args.pairs, args.chunk, args.precision) for name in names]
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "none"
    print(f"# {torch.get_num_threads()} CPU threads, GPU {gpu}; {args.pairs} interleaved pairs of {args.chunk} steps "
          "per candidate; ratio = median of per-pair ratios (p10-p90)")
    print(render(rows, "table", floatfmt=".3g"))
    for dev, target in (("cpu", 0.90), ("cuda", 0.80)):
        mine = [r["ratio"] for r in rows if r["device"] == dev]
        if mine:
            print(f"{dev}: min ratio {min(mine):.3f} (target >= {target:.2f})")
    if args.json:
        Path(args.json).write_text(json.dumps({"gpu": gpu, "threads": torch.get_num_threads(), "rows": rows}, indent=2),
                                   encoding="utf-8")


if __name__ == "__main__":
    main()
