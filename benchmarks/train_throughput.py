"""Bake-off training throughput against the model-only bound, side by side in one run (CPU).

The bound: the same model's forward + backward + optimiser step on pre-made, already
normalised tensors (no data work at all). The bake-off: `trainer.bakeoff.BakeoffStream`,
the inner loop of `train_rung` (gather from the uint8 cache, random-resized-crop + flip via
one roi_align call, normalise, step). Target: ratio >= 0.90.

This machine is shared and noisy, so the two are interleaved in short chunks (CHUNK steps
of one, then CHUNK of the other, same model and optimiser) and the ratio is the median of
the per-pair ratios: a load spike hits both halves of a pair alike.

    .venv/bin/python benchmarks/train_throughput.py [--size 64] [--batch 32] [--pairs 15] [--chunk 4]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hoot.advisor.render import render  # noqa: E402
from tests.trainer_tests.conftest import make_imagefolder  # noqa: E402
from hoot.trainer.bakeoff import BakeoffStream, build_candidate, prepare  # noqa: E402
from hoot.trainer.config import ShortlistConfig  # noqa: E402
from hoot.trainer.loop import Stepper  # noqa: E402
from hoot.trainer.losses import make_loss  # noqa: E402
from hoot.trainer.strategy import make_optimizer  # noqa: E402

CANDIDATES = ["mobilenet_v3_small", "shufflenet_v2_x0_5", "squeezenet1_1", "resnet18"]


def measure(ctx, name: str, pairs: int, chunk: int) -> dict:
    model = build_candidate(ctx, name)
    opt = make_optimizer(model, "adamw", 1e-3, 0.05)
    loss_fn = make_loss("classification")
    stepper = Stepper(model, opt, loss_fn, ctx.device, lambda s: 1e-3)
    stream = BakeoffStream(ctx, ctx.normalizer(name))
    b = ctx.config.batch_size
    x = torch.randn(b, 3, ctx.image_size, ctx.image_size)
    y = torch.randint(0, ctx.num_classes, (b,))
    model.train()
    step = 0
    for _ in range(3):  # warm-up both paths
        stepper(x, y, 0)
        stream.step(stepper, step)
        step += 1
    bound, pipe, ratios = [], [], []
    for _ in range(pairs):
        t0 = time.perf_counter()
        for _ in range(chunk):
            stepper(x, y, 0)
        tb = chunk * b / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        n = 0
        for _ in range(chunk):
            n += stream.step(stepper, step)[1]
            step += 1
        tp = n / (time.perf_counter() - t0)
        bound.append(tb)
        pipe.append(tp)
        ratios.append(tp / tb)
    return {"candidate": name, "model_only_img_s": statistics.median(bound), "bakeoff_img_s": statistics.median(pipe),
            "ratio": statistics.median(ratios), "ratio_p10": sorted(ratios)[len(ratios) // 10],
            "ratio_p90": sorted(ratios)[(len(ratios) * 9) // 10]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--pairs", type=int, default=15)
    ap.add_argument("--chunk", type=int, default=4)
    ap.add_argument("--candidates", default=",".join(CANDIDATES))
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="hoot-throughput-"))
    data = make_imagefolder(tmp / "data", per_class=200, size=args.size + 16)
    names = args.candidates.split(",")
    cfg = ShortlistConfig(data_dir=str(data), candidates=names, pretrained=False, output=str(tmp / "runs"), run_id="tp",
                          batch_size=args.batch, image_size=args.size, full_epochs=0)
    ctx = prepare(cfg, progress=False)
    rows = [measure(ctx, name, args.pairs, args.chunk) for name in names]
    print(f"# {args.size} px, batch {args.batch}, {torch.get_num_threads()} threads; {args.pairs} interleaved pairs "
          f"of {args.chunk} steps per candidate; ratio = median of per-pair ratios (p10-p90)")
    print(render(rows, "table", floatfmt=".3g"))
    print(f"min ratio {min(r['ratio'] for r in rows):.3f} (target >= 0.90)")


if __name__ == "__main__":
    main()
