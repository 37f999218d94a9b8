"""Quality of a 2-candidate segmentation bake-off on generated data, all from scratch: the test mIoU
of the kept model against the all-background answer, and the wall time.

Data: shapes drawn on noisy striped canvases with class-index masks (hoot.testing.images.
make_segmentation); every image is mostly background, so predicting background everywhere
already scores a pixel accuracy near 0.8 but an mIoU of about 1 / number of classes present
(background's IoU ~0.8, every shape class 0). The run is `hoot shortlist` itself (the one
pipeline: bake-off on validation mIoU, fine-tune, test split). Figures need a quiet machine.

    .venv/bin/python benchmarks/task_quality.py [--images 240] [--size 64] [--steps 60] [--full-epochs 6]
        [--candidates lraspp_mobilenet_v3_large,deeplabv3_mobilenet_v3_large]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from hoot.cli.main import main as hoot
from hoot.testing.images import make_segmentation
from hoot.trainer.tasks import get_task
from hoot.trainer.tasks.base import LossOptions
from hoot.trainer.training.context import run_splits, split_caches


def background_miou(run_dir: Path, size: int) -> float:
    """mIoU of predicting class 0 everywhere on the run's own test split (the same evaluator)."""
    task = get_task("segmentation")
    splits = run_splits(run_dir)
    _, _, test = split_caches(splits, size, run_dir / "cache")
    masks = torch.from_numpy(np.asarray(test.labels))
    logits = torch.zeros(len(masks), len(splits.classes), size, size)
    logits[:, 0] = 1.0
    ev = task.evaluator(len(splits.classes), task.make_loss(LossOptions()))
    ev.update(logits, masks)
    return ev.compute().metrics["val_miou"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=240)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=60, help="bake-off budget per candidate at rung 0")
    ap.add_argument("--full-epochs", type=int, default=6)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--loss", default="ce")
    ap.add_argument("--candidates", default="lraspp_mobilenet_v3_large,deeplabv3_mobilenet_v3_large")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="hoot-task-quality-"))
    data = make_segmentation(tmp / "data", n=args.images, size=args.size)
    t0 = time.perf_counter()
    code = hoot(["shortlist", str(data), "--candidates", args.candidates, "--no-pretrained", "--image-size",
                 str(args.size), "--steps", str(args.steps), "--full-epochs", str(args.full_epochs), "--batch-size",
                 str(args.batch), "--loss", args.loss, "--output", str(tmp / "runs"), "--run-id", "q"])
    wall_s = time.perf_counter() - t0
    if code != 0:
        raise SystemExit(code)
    run = tmp / "runs" / "q"
    ft = json.loads((run / "finetune.json").read_text())
    baseline = background_miou(run, args.size)
    print(f"# {torch.get_num_threads()} CPU threads; {args.images} images at {args.size} px; candidates {args.candidates}")
    print(f"winner {ft['winner']}: test_miou {ft['test']['test_miou']:.4f} (all-background answer {baseline:.4f}), "
          f"test_pixel_accuracy {ft['test']['test_pixel_accuracy']:.4f}, wall {wall_s:.0f} s")


if __name__ == "__main__":
    main()
