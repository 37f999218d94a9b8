"""Bake-off training throughput of a dense-task candidate (segmentation by default) against the same
model's forward + backward + step on pre-made tensors, side by side, same batch and size.

Issue 18's target: ratio >= 0.90 on the CPU. The bound is the run's own `Stepper` with the task's
loss (hoot.trainer.tasks: `criterion`) on a random batch and `fake_targets` already on the device;
the bake-off is `BakeoffStream`, the inner loop of `train_rung` (gather images AND masks from the
uint8 cache, one roi_align crop + flip for the images, the same crops nearest-sampled for the
masks, normalise, step). The pairing is benchmarks/paired_steps.py. Figures need a quiet machine.

    .venv/bin/python benchmarks/task_throughput.py [--task segmentation] [--candidates lraspp_mobilenet_v3_large]
        [--size 64] [--batch 16] [--images 96] [--pairs 10] [--chunk 3]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from paired_steps import paired_ratio

from hoot.advisor.render import render
from hoot.testing.images import make_segmentation
from hoot.trainer.config import ShortlistConfig
from hoot.trainer.training.bakeoff import prepare


def make_data(task: str, root: Path, n: int, size: int) -> Path:
    """Generated data of `task` (shapes on textured canvases with masks; boxes from the detection module)."""
    if task == "segmentation":
        return make_segmentation(root, n=n, size=size)
    from hoot.testing import detection_data  # the detection helper's generator (hoot.testing.detection_data)

    return detection_data.make_detection(root, n=n, size=size)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="segmentation")
    ap.add_argument("--candidates", default="lraspp_mobilenet_v3_large")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--images", type=int, default=96)
    ap.add_argument("--pairs", type=int, default=10)
    ap.add_argument("--chunk", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="hoot-task-throughput-"))
    data = make_data(args.task, tmp / "data", args.images, args.size)
    names = args.candidates.split(",")
    cfg = ShortlistConfig(data_dir=str(data), candidates=names, task=args.task, pretrained=False,
                          output=str(tmp / "runs"), run_id="tp", batch_size=args.batch, image_size=args.size,
                          full_epochs=0, device=args.device)
    ctx = prepare(cfg, progress=False)
    rows = [paired_ratio(ctx, name, args.pairs, args.chunk) for name in names]
    print(f"# {torch.get_num_threads()} CPU threads; {args.pairs} interleaved pairs of {args.chunk} steps per candidate; "
          "ratio = median of per-pair ratios (p10-p90)")
    print(render(rows, "table", floatfmt=".3g"))
    print(f"min ratio {min(r['ratio'] for r in rows):.3f} (target >= 0.90)")


if __name__ == "__main__":
    main()
