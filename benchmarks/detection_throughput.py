"""Detection bake-off training throughput against the model-only bound, side by side in one run.

The bound: the detector's forward + backward + optimiser step (the same `Stepper` and task loss,
so the same precision and the detector's own losses) on a pre-made normalised batch and pre-made
box targets already on the device; no data work. The bake-off: `BakeoffStream`, train_rung's
inner loop (gather from the uint8 cache with its box rows, the task's augmentation that moves the
boxes with the image, normalise, step). Target (issue 18): ratio >= 0.90 on CPU.

The pairing (interleaved chunks, ratio = median of per-pair ratios) is benchmarks/paired_steps.py.
Figures need a quiet machine; `--pairs 2 --chunk 1 --count 16` only checks that the script runs.

    .venv/bin/python benchmarks/detection_throughput.py [--candidate ssdlite320_mobilenet_v3_large]
        [--size 128] [--batch 8] [--pairs 10] [--chunk 3] [--count 96] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch
from paired_steps import paired_ratio

from hoot.advisor.render import render
from hoot.testing.detection_data import make_coco
from hoot.trainer.config import ShortlistConfig
from hoot.trainer.training.bakeoff import prepare

TARGET_CPU = 0.90


def stream_batch(ctx, name: str, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A normalised batch and its box rows from the training cache, made once, on the device."""
    import numpy as np

    idx = np.arange(min(batch, len(ctx.train)))
    images, rows = ctx.train.on(ctx.device).gather(idx)
    return ctx.normalizer(name)(images.float()), rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candidate", default="ssdlite320_mobilenet_v3_large")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--pairs", type=int, default=10)
    ap.add_argument("--chunk", type=int, default=3)
    ap.add_argument("--count", type=int, default=96, help="generated images (COCO layout)")
    ap.add_argument("--json", default=None, help="also write the rows here")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="hoot-det-throughput-"))
    make_coco(tmp / "coco", count=args.count, size=args.size)
    cfg = ShortlistConfig(data_dir=str(tmp / "coco"), candidates=[args.candidate], task="detection", pretrained=False,
                          output=str(tmp / "runs"), run_id="tp", batch_size=args.batch, image_size=args.size,
                          full_epochs=0, device=args.device)
    ctx = prepare(cfg, progress=False)
    row = paired_ratio(ctx, args.candidate, args.pairs, args.chunk, bound_batch=stream_batch)
    print(f"# {torch.get_num_threads()} CPU threads; {args.pairs} interleaved pairs of {args.chunk} steps; "
          "ratio = median of per-pair ratios (p10-p90)")
    print(render([row], "table", floatfmt=".3g"))
    if row["device"] == "cpu":
        print(f"cpu: ratio {row['ratio']:.3f} (target >= {TARGET_CPU:.2f})")
    if args.json:
        Path(args.json).write_text(json.dumps({"threads": torch.get_num_threads(), "rows": [row]}, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
