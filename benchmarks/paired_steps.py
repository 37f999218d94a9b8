"""The one side-by-side measure of the bake-off against its model-only bound (issues 10 and 18).

The bound: the candidate's forward + backward + optimiser step (the run's own `Stepper` and the
task's loss, so the same precision and layout) on a pre-made batch already on the device; no data
work. The bake-off: `BakeoffStream`, train_rung's inner loop (gather from the uint8 cache, the
task's augmentation, normalise, step). The two are interleaved in short chunks (CHUNK steps of
one, then CHUNK of the other, same model and optimiser, each chunk closed by the loop's one read)
and the ratio is the median of the per-pair ratios: a load spike hits both halves of a pair alike.
Used by train_throughput.py, task_throughput.py and detection_throughput.py.
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable

import torch

from hoot.trainer.training.bakeoff import BakeoffStream, build_candidate
from hoot.trainer.training.device_run import resolve_precision
from hoot.trainer.training.loop import Stepper
from hoot.trainer.training.strategy import make_optimizer

BoundBatch = Callable[[Any, str, int], "tuple[torch.Tensor, Any]"]


def random_batch(ctx, name: str, batch: int) -> tuple[torch.Tensor, Any]:
    """A random image batch and the task's fake targets, on the device (classification, segmentation)."""
    x = torch.randn(batch, 3, ctx.image_size, ctx.image_size, device=ctx.device)
    return x, ctx.task_impl.fake_targets(batch, ctx.image_size, ctx.num_classes, ctx.device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def paired_ratio(ctx, name: str, pairs: int, chunk: int, *, precision_name: str = "auto",
                 bound_batch: BoundBatch = random_batch, warmup: int = 2) -> dict:
    """One candidate's row: model-only and bake-off images/s (medians) and their per-pair ratio (p10-p90)."""
    dev, b = ctx.device, ctx.config.batch_size
    model = build_candidate(ctx, name)
    opt = make_optimizer(model, "adamw", 1e-3, 0.05)
    loss_fn = ctx.make_loss()
    precision = resolve_precision(precision_name, model, opt, loss_fn, dev, b, ctx.image_size, ctx.num_classes,
                                  ctx.task_impl)
    stepper = Stepper(model, opt, loss_fn, dev, lambda s: 1e-3, precision)
    stream = BakeoffStream(ctx, ctx.normalizer(name))
    x, y = bound_batch(ctx, name, b)
    model.train()
    step = 0
    for _ in range(warmup):  # both paths: allocator, cuDNN autotuning, the cache placement
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
    return {"task": ctx.task, "device": dev.type, "size_px": ctx.image_size, "batch": b, "candidate": name,
            "precision": precision.label, "model_only_img_s": statistics.median(bound),
            "bakeoff_img_s": statistics.median(pipe), "ratio": statistics.median(ratios),
            "ratio_p10": ratios[len(ratios) // 10], "ratio_p90": ratios[(len(ratios) * 9) // 10]}
