"""One bake-off rung for one candidate: the same batches for every candidate (a pure function of
seed and step), a resumable checkpoint, BatchNorm statistics re-estimated, then evaluation on
the validation split and a batch-1 latency at the run's training size.

The latency column is one setting for every candidate: measured now, in this process, at the
training size on the run's device (batch 1, this thread count), never a results-store row at
another size beside it; `latency_source` says the setting.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch

from hoot.trainer.training.context import RunContext
from hoot.trainer.training.loop import Stepper, evaluate, measure_latency, recalibrate_bn
from hoot.trainer.training.device_run import log_interval, resolve_compile, resolve_precision
from hoot.trainer.data.pipeline import (Normalizer, SeededSampler, epoch_batches, mix_seed, prefetch, steps_per_epoch,
                                   train_batch)
from hoot.trainer.training.rung_result import METRIC_PREFIX, RungResult
from hoot.trainer.runfiles import atomic_torch_save, load_checkpoint
from hoot.trainer.training.strategy import apply_strategy, make_optimizer

log = logging.getLogger(__name__)


def build_candidate(ctx: RunContext, candidate: str) -> torch.nn.Module:
    """The candidate with the run's head and weights; its random init depends only on the seed."""
    torch.manual_seed(mix_seed(ctx.config.seed, 7))
    model = ctx.task_impl.build_model(candidate, ctx.num_classes, ctx.config.pretrained, ctx.catalog)
    apply_strategy(model, ctx.recipe.strategy)
    return model.to(ctx.device)


def checkpoint_path(ctx: RunContext, candidate: str) -> Path:
    return ctx.run_dir / "bakeoff" / f"{candidate}.pt"


def budget(ctx: RunContext, rung: int) -> tuple[int | None, float | None, int]:
    """(total steps or None, total seconds or None, warm-up steps) for `rung`, cumulative."""
    cfg = ctx.config
    spe = steps_per_epoch(len(ctx.train), cfg.batch_size)
    factor = cfg.eta ** rung
    if cfg.budget_seconds is not None:
        return None, cfg.budget_seconds * factor, max(1, spe // 10)
    base = cfg.steps if cfg.steps is not None else max(1, round(cfg.epochs * spe))
    return base * factor, None, max(1, base // 10)


def latency(ctx: RunContext, model: torch.nn.Module) -> tuple[float, str]:
    """Batch-1 latency at the run's training size on its device, measured now (one setting for all)."""
    threads = torch.get_num_threads()
    timing = measure_latency(model, ctx.image_size, ctx.device)
    busy = "" if not timing.contended else f"; contended: {timing.busy.describe()}"
    source = f"measured now ({ctx.device.type}, {ctx.image_size} px, batch 1, {threads} threads{busy})"
    return timing.median_ms, source


class BakeoffStream:
    """Batch k of the bake-off, for any candidate: the same images, crops and flips (a pure
    function of seed and k), then one optimiser step. train_rung's inner loop; also what
    benchmarks/train_throughput.py times against the model-only bound."""

    def __init__(self, ctx: RunContext, norm: Normalizer) -> None:
        self.ctx, self.norm = ctx, norm
        self.sampler = SeededSampler(len(ctx.train), ctx.config.seed)
        self.steps_per_epoch = steps_per_epoch(len(ctx.train), ctx.config.batch_size)
        self._epoch, self._batches = -1, []

    def indices(self, step: int) -> np.ndarray:
        epoch, pos = divmod(step, self.steps_per_epoch)
        if epoch != self._epoch:
            self._epoch, self._batches = epoch, epoch_batches(self.sampler, epoch, self.ctx.config.batch_size)
        return self._batches[pos]

    def step(self, stepper: Stepper, step: int) -> tuple[torch.Tensor, int]:
        """(training loss on the device, images) of global step `step`; never waits on the GPU (the
        loss also goes to `stepper.meter`, read once per log interval)."""
        seed, dev = self.ctx.config.seed, self.ctx.device
        idx = self.indices(step)
        x, y = train_batch(self.ctx.train, idx, mix_seed(seed, step), self.norm, dev,
                           augment_fn=self.ctx.task_impl.augment)
        prefetch(self.ctx.train, self.indices(step + 1), dev)  # the next batch is gathered meanwhile
        torch.manual_seed(mix_seed(seed, step, 1))  # dropout too depends on the step only
        return stepper.step(x, y, step), len(idx)


class RungTrainer:
    """The state of one candidate's rung: model, optimiser, step counter and its checkpoint."""

    def __init__(self, ctx: RunContext, candidate: str, rung: int) -> None:
        cfg = ctx.config
        self.ctx, self.candidate, self.rung = ctx, candidate, rung
        self.total_steps, self.total_seconds, warmup = budget(ctx, rung)
        self.model = build_candidate(ctx, candidate)
        self.optimizer = make_optimizer(self.model, cfg.optimizer, ctx.recipe.lr, cfg.weight_decay,
                                        head_lr=ctx.recipe.head_lr)
        self.loss_fn = ctx.make_loss()
        self.norm = ctx.normalizer(candidate)
        lr = ctx.recipe.lr  # the head's groups carry lr_scale = head_lr / lr (trainer.training.strategy)
        # precision/layout measured (or as asked) and optional compile, recorded in the result (issue 10)
        self.precision = resolve_precision(cfg.precision, self.model, self.optimizer, self.loss_fn, ctx.device,
                                           cfg.batch_size, ctx.image_size, ctx.num_classes, ctx.task_impl,
                                           ctx.run_dir / "bakeoff" / f"{candidate}.precision.json")
        self.stepper = Stepper(self.model, self.optimizer, self.loss_fn, ctx.device,
                               lambda s: lr * min(1.0, (s + 1) / warmup), self.precision)
        self.compiled = resolve_compile(cfg.compile, self.stepper, cfg.batch_size, ctx.image_size, ctx.num_classes,
                                        ctx.task_impl, self.total_steps or 100)
        self.ckpt_file = checkpoint_path(ctx, candidate)
        self.step, self.train_seconds = 0, 0.0
        self.images, self.seg_seconds, self.last_loss = 0, 0.0, float("nan")

    def resume(self) -> None:
        """Continue from the candidate's checkpoint when it is this seed's and not past the budget."""
        self.ckpt_file.parent.mkdir(parents=True, exist_ok=True)
        if not self.ckpt_file.is_file():
            return
        state = load_checkpoint(self.ckpt_file, self.ctx.device)
        if state.get("seed") == self.ctx.config.seed and (self.total_steps is None or state["step"] <= self.total_steps):
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.step, self.train_seconds = int(state["step"]), float(state["train_seconds"])

    def save(self) -> None:
        atomic_torch_save({"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(), "step": self.step,
                           "train_seconds": self.train_seconds, "seed": self.ctx.config.seed,
                           "candidate": self.candidate}, self.ckpt_file)

    def _more_steps(self) -> bool:
        return self.total_steps is None or self.step < self.total_steps

    def _read(self, t0: float, steps: int, bar) -> float:
        """Read the device-side loss (one synchronisation), account the time since t0; the new t0."""
        self.last_loss = self.stepper.meter.read().last
        now = time.perf_counter()
        self.train_seconds += now - t0
        self.seg_seconds += now - t0
        bar.update(steps)
        bar.set_postfix(loss=f"{self.last_loss:.3f}", img_s=f"{self.images / max(self.seg_seconds, 1e-9):.0f}")
        return now

    def _more(self) -> bool:
        return ((self.total_steps is not None and self.step < self.total_steps)
                or (self.total_seconds is not None and self.train_seconds < self.total_seconds))

    def train(self) -> None:
        """Steps until the rung's budget is spent; an interrupt saves first (resuming gives the same run)."""
        from tqdm import tqdm

        stream = BakeoffStream(self.ctx, self.norm)
        bar = tqdm(total=self.total_steps - self.step if self.total_steps else None, file=sys.stderr,
                   desc=f"{self.candidate} rung {self.rung}", unit="step", disable=not self.ctx.progress, leave=False)
        self.model.train()
        every, since_read = log_interval(self.ctx.device), 0
        try:
            t0 = time.perf_counter()
            while self._more():
                self.images += stream.step(self.stepper, self.step)[1]
                self.step += 1
                since_read += 1
                if since_read >= every or not self._more_steps():
                    t0 = self._read(t0, since_read, bar)  # the loop's one host synchronisation
                    since_read = 0
            if since_read:
                self._read(t0, since_read, bar)
        except KeyboardInterrupt:
            self.save()
            raise
        finally:
            bar.close()
        self.save()


def train_rung(ctx: RunContext, candidate: str, rung: int) -> RungResult:
    """Train `candidate` to rung `rung`'s cumulative budget, re-estimate BN, evaluate on validation.
    See trainer/training/bakeoff.py's contract for the result."""
    from hoot.bench.models import count_params

    cfg = ctx.config
    job = RungTrainer(ctx, candidate, rung)
    job.resume()
    start_step = job.step
    job.train()
    model = job.model
    bn_images = recalibrate_bn(model, ctx.train, job.norm, ctx.device, cfg.batch_size, cfg.bn_recalibration_images,
                               job.precision)  # the step's precision and layout: one rule for both
    metrics = evaluate(model, ctx.val, job.norm, ctx.device, cfg.batch_size, ctx.task_impl, job.loss_fn, job.precision,
                       ctx.num_classes)
    latency_ms, latency_source = latency(ctx, model)
    setting, extra = RungResult.split_known({**job.precision.as_dict(), **job.compiled.as_dict()})
    return RungResult(
        candidate=candidate, rung=rung, status="ok", error=None,
        steps=job.step, epochs_seen=round(job.step / steps_per_epoch(len(ctx.train), cfg.batch_size), 3),
        images_seen=job.step * cfg.batch_size, train_seconds=round(job.train_seconds, 3),
        train_images_per_s=round(job.images / job.seg_seconds, 2) if job.seg_seconds > 0 else None,
        train_loss_last=job.last_loss, latency_ms=latency_ms, latency_source=latency_source,
        params=count_params(model), trainable_params=sum(p.numel() for p in model.parameters() if p.requires_grad),
        strategy=ctx.recipe.strategy, lr=ctx.recipe.lr, head_lr=ctx.recipe.head_lr,
        bn_recalibration_images=bn_images, resumed_from_step=start_step,
        metrics={k: v for k, v in metrics.items() if k.startswith(METRIC_PREFIX) and isinstance(v, (int, float))},
        extra=extra, **setting,
    )
