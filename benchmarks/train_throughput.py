"""Bake-off training throughput against the eager model-only bound, side by side in one run, on CPU and CUDA.

The bound: the same model's forward + backward + optimiser step (the same `Stepper`, so the
same precision and layout) on pre-made tensors already on the device, same batch and size;
no data work at all. The bake-off: `hoot.trainer.training.rung.BakeoffStream`, the inner loop of
`train_rung` (gather from the uint8 cache where it lives - the GPU when it fits - random
resized crop + flip via one roi_align call, normalise, step, the loss kept on the device).
Targets (issue 10): ratio >= 0.80 on an H100-class GPU, >= 0.90 on CPU.

The pairing (interleaved chunks, ratio = median of per-pair ratios) is benchmarks/paired_steps.py.

    .venv/bin/python benchmarks/train_throughput.py [--devices cpu,cuda] [--sizes 64,224]
        [--batch 32] [--cuda-batch 128] [--pairs 15] [--chunk 4] [--precision auto]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch
from paired_steps import paired_ratio

from hoot.advisor.render import render
from hoot.testing.images import make_imagefolder
from hoot.trainer.config import ShortlistConfig
from hoot.trainer.training.bakeoff import prepare

CANDIDATES = ["mobilenet_v3_small", "shufflenet_v2_x0_5", "squeezenet1_1", "resnet18"]


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
            rows += [paired_ratio(ctx, name, args.pairs, args.chunk, precision_name=args.precision, warmup=3)
                     for name in names]
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
