"""Fine-tune the bake-off winner with the documents' recipe.

Strategy and per-group learning rates from seeds/004 (trainer.training.strategy), warm-up then cosine
decay, optional label smoothing and focal loss (seeds/003), early stopping on the validation
metric, autocast on CUDA, automatic batch size on a GPU (bench.autobatch), BatchNorm statistics
re-estimated before every evaluation.

Never worse than where it started: the starting checkpoint (the bake-off's weights) is
evaluated on validation first and written as `best.pt`; an epoch replaces it only when it is
better (hoot.advisor.metric.Metric decides), and the result says which was kept. The kept
model is then evaluated once on the held-out test split: that is the figure a run reports.
`last.pt` (atomic, every epoch) holds what a resume needs and no more: the trainable
parameters and buffers (frozen layers come back from the starting checkpoint), the
optimiser, the epoch and the history. Interrupted runs continue from it with --resume.

Written to run inside torchrun processes too (trainer/orchestration/scaleout/distributed.py): pass `rank`,
`world_size` and a `ddp_wrap(model) -> model`; sampling goes through a swappable sampler
(torch's DistributedSampler when world_size > 1, with `set_epoch`), the training loss is
averaged across ranks, every rank evaluates the whole validation split (so early stopping
decides the same everywhere), and only rank 0 writes checkpoints, logs and TensorBoard.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from hoot.advisor.errors import HootError
from hoot.trainer.training.context import RunContext
from hoot.trainer.training.ddp import all_reduce_mean
from hoot.trainer.training.device_run import resolve_compile, resolve_precision
from hoot.trainer.training.finetune_result import FinetuneResult
from hoot.trainer.training.loop import Stepper, evaluate, recalibrate_bn, unwrap
from hoot.trainer.training.threshold import select_threshold
from hoot.trainer.data.pipeline import EpochSampler, SeededSampler, epoch_batches, mix_seed, prefetch, train_batch
from hoot.trainer.training.precision import PrecisionChoice, autocast_context, default_choice
from hoot.trainer.training.rung import build_candidate, checkpoint_path
from hoot.trainer.runfiles import atomic_torch_save, load_checkpoint
from hoot.trainer.training.strategy import make_optimizer

CHECKPOINT_VERSION = 1


def default_full_epochs(n_train: int) -> int:
    """More passes over small datasets, fewer over large ones: 30 epochs at 1K images, 10 at 3K+, 50 at most."""
    return int(min(50, max(10, 30_000 // max(n_train, 1))))


def warmup_cosine(base_lr: float, warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    """Linear warm-up from base_lr/warmup to base_lr, then cosine decay to zero at total_steps."""
    def lr_at(step: int) -> float:
        if step < warmup_steps:
            return base_lr * (step + 1) / warmup_steps
        t = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return base_lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))

    return lr_at


def _tensorboard(log_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional (seeds/003 logs to it when present)
        return None
    return SummaryWriter(log_dir=str(log_dir))


def batch_probe_optimizer(model: nn.Module, name: str) -> torch.optim.Optimizer:
    """The run's optimiser kind at learning rate 0 for the batch-size probe: its state (AdamW keeps
    two buffers per parameter) takes the memory the real run's will, while the weights stay as
    they are (AdamW's decoupled decay is scaled by the learning rate too)."""
    return make_optimizer(model, name, 0.0, 0.0)


def pick_batch_size(ctx: RunContext, model: nn.Module, loss_fn: nn.Module,
                    precision: PrecisionChoice | None = None) -> tuple[int, dict | None]:
    """The configured batch on CPU; on a GPU the largest that fits (hoot bench's search), capped so an
    epoch still has about ten steps."""
    cfg = ctx.config
    if ctx.device.type != "cuda" or not cfg.auto_batch:
        return cfg.batch_size, None
    from hoot.bench.autobatch import auto_batch_size

    cap = max(cfg.batch_size, min(1024, len(ctx.train) // 10))
    probe_opt = batch_probe_optimizer(model, cfg.optimizer)

    def step(b: int) -> None:
        x = torch.randn(b, 3, ctx.image_size, ctx.image_size, device=ctx.device)
        y = ctx.task_impl.fake_targets(b, ctx.image_size, ctx.num_classes, ctx.device)
        with autocast_context(precision or default_choice(ctx.device), ctx.device):
            loss = loss_fn(model, x, y)
        loss.float().backward()
        probe_opt.step()
        probe_opt.zero_grad(set_to_none=True)

    found = auto_batch_size(step, torch, ctx.device, max_batch=cap, cleanup=lambda: probe_opt.zero_grad(set_to_none=True))
    if found.batch_size < 1:
        from hoot.advisor.errors import HootError

        raise HootError(f"'{unwrap(model).hoot_variant}' does not fit in GPU memory even at batch 1 at {ctx.image_size} px; "
                        "lower --image-size or pick a smaller model")
    return found.batch_size, found.as_dict()


@dataclass
class Progress:
    """What a resume needs beyond the weights: where the run is and what it has kept so far."""

    batch_size: int
    autobatch: dict | None
    start_epoch: int = 0
    history: list[dict] = field(default_factory=list)
    best_value: float = float("nan")
    best_epoch: int = -1  # -1: the starting checkpoint (evaluated before any epoch)
    started_from: str = "initial weights"
    baseline_done: bool = False
    start_value: float | None = None  # the starting checkpoint's validation metric


def resume_state_dict(model: nn.Module) -> dict:
    """The weights a resume cannot get elsewhere: trainable parameters and every buffer (BN
    statistics). Frozen parameters are the starting checkpoint's and are rebuilt from it."""
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    frozen = {n for n, _ in model.named_parameters()} - trainable
    return {k: v for k, v in model.state_dict().items() if k not in frozen}


def _load_resume(ctx: RunContext, winner: str, model: nn.Module, last_file: Path, resume: bool) -> dict | None:
    if not (resume and last_file.is_file()):
        return None
    state = load_checkpoint(last_file, ctx.device)
    if state.get("variant") != winner:
        return None
    missing, unexpected = model.load_state_dict(state["model"], strict=False)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    if unexpected or trainable & set(missing):
        raise HootError(f"'{last_file}' does not match {winner}'s trainable layers; delete it to restart the fine-tune")
    return state


def _precision(ctx: RunContext, winner: str, model: nn.Module, loss_fn: nn.Module) -> PrecisionChoice:
    """The step's precision and layout: the bake-off's measured choice for this model (or as asked);
    channels-last is applied here, before any DDP wrapper sees the parameters (issue 10)."""
    cfg = ctx.config
    probe_optimizer = make_optimizer(model, cfg.optimizer, ctx.recipe.lr, cfg.weight_decay)
    precision = resolve_precision(cfg.precision, model, probe_optimizer, loss_fn, ctx.device, cfg.batch_size,
                                  ctx.image_size, ctx.num_classes, ctx.task_impl,
                                  ctx.run_dir / "bakeoff" / f"{winner}.precision.json")
    if precision.channels_last:
        model.to(memory_format=torch.channels_last)
    return precision


def _start(ctx: RunContext, winner: str, resume: bool,
           loss_fn: nn.Module) -> tuple[nn.Module, dict | None, Progress, PrecisionChoice]:
    """The model from the bake-off checkpoint (or its initial weights), then last.pt when resuming."""
    model = build_candidate(ctx, winner)
    bakeoff_ckpt = checkpoint_path(ctx, winner)
    started_from = "initial weights"
    if bakeoff_ckpt.is_file():  # continue from the bake-off's training instead of repeating it
        model.load_state_dict(load_checkpoint(bakeoff_ckpt, ctx.device)["model"])
        started_from = "bake-off checkpoint"
    state = _load_resume(ctx, winner, model, ctx.run_dir / "last.pt", resume)
    if state is not None:
        done = int(state["epoch"]) + 1
        ctx.log(f"fine-tune of {winner}: epochs 1-{done} reused from the interrupted run (last.pt); "
                f"training from epoch {done + 1}")
    elif resume and (ctx.run_dir / "last.pt").is_file():
        ctx.log(f"fine-tune of {winner}: the interrupted run's last.pt is of another model; starting it over")
    precision = _precision(ctx, winner, model, loss_fn)
    if state is None:
        batch_size, autobatch = pick_batch_size(ctx, model, loss_fn, precision)
        return model, None, Progress(batch_size, autobatch, started_from=started_from), precision
    progress = Progress(int(state["batch_size"]), state.get("autobatch"), int(state["epoch"]) + 1,
                        json.loads(state["history_json"]), float(state["best_value"]), int(state["best_epoch"]),
                        f"last.pt (epoch {int(state['epoch']) + 1})", baseline_done=True,
                        start_value=state.get("start_value"))
    return model, state, progress, precision


def _sampler(ctx: RunContext, rank: int, world_size: int) -> EpochSampler:
    if world_size > 1:
        from torch.utils.data.distributed import DistributedSampler

        return DistributedSampler(range(len(ctx.train)), num_replicas=world_size, rank=rank, shuffle=True, seed=ctx.config.seed)
    return SeededSampler(len(ctx.train), ctx.config.seed)


class FinetuneRun:
    """One fine-tune: the model, its optimiser and schedule, and the files it keeps (best.pt, last.pt)."""

    def __init__(self, ctx: RunContext, winner: str, rank: int, world_size: int,
                 ddp_wrap: Callable[[nn.Module], nn.Module] | None, sampler: EpochSampler | None, resume: bool) -> None:
        cfg = ctx.config
        self.ctx, self.winner, self.rank, self.world_size = ctx, winner, rank, world_size
        self.is_main = rank == 0
        self.epochs = cfg.full_epochs if cfg.full_epochs is not None else default_full_epochs(len(ctx.train))
        self.loss_fn = ctx.make_loss()
        self.norm = ctx.normalizer(winner)
        self.model, state, self.progress, self.precision = _start(ctx, winner, resume, self.loss_fn)
        self.sampler = sampler if sampler is not None else _sampler(ctx, rank, world_size)
        self.spe = max(1, len(epoch_batches(self.sampler, 0, self.progress.batch_size)))
        total_steps = max(1, self.epochs * self.spe)
        warmup = max(1, min(total_steps // 2, round(cfg.warmup_epochs * self.spe)))
        self.optimizer = make_optimizer(self.model, cfg.optimizer, ctx.recipe.lr, cfg.weight_decay, head_lr=ctx.recipe.head_lr)
        if state is not None:
            self.optimizer.load_state_dict(state["optimizer"])
        self.train_model = ddp_wrap(self.model) if ddp_wrap is not None else self.model
        self.stepper = Stepper(self.train_model, self.optimizer, self.loss_fn, ctx.device,
                               warmup_cosine(ctx.recipe.lr, warmup, total_steps), self.precision)
        self.compiled = resolve_compile(cfg.compile, self.stepper, self.progress.batch_size, ctx.image_size,
                                        ctx.num_classes, ctx.task_impl, total_steps)
        self.best_file, self.last_file = ctx.run_dir / "best.pt", ctx.run_dir / "last.pt"

    def validate(self) -> dict:
        """BN statistics re-estimated on training images, then the validation metrics."""
        cfg, ctx = self.ctx.config, self.ctx
        recalibrate_bn(self.model, ctx.train, self.norm, ctx.device, self.progress.batch_size, cfg.bn_recalibration_images,
                       self.precision)
        return evaluate(self.model, ctx.val, self.norm, ctx.device, self.progress.batch_size, ctx.task_impl, self.loss_fn,
                        self.precision, ctx.num_classes)

    def save_last(self, epoch: int) -> None:
        p = self.progress
        atomic_torch_save({"model": resume_state_dict(unwrap(self.model)), "optimizer": self.optimizer.state_dict(),
                           "epoch": epoch, "variant": self.winner, "batch_size": p.batch_size, "autobatch": p.autobatch,
                           "history_json": json.dumps(p.history), "best_value": p.best_value,
                           "best_epoch": p.best_epoch, "start_value": p.start_value}, self.last_file)

    def baseline(self) -> None:
        """The starting checkpoint is the model to beat: evaluated and kept as best.pt before any epoch."""
        if self.progress.baseline_done:
            return
        value = self.validate()[self.ctx.metric]
        p = self.progress
        p.best_value, p.best_epoch, p.baseline_done, p.start_value = value, -1, True, value
        if self.is_main:
            self.ctx.log(f"fine-tune {self.winner}: starting point ({self.progress.started_from}) "
                         f"{self.ctx.metric} {value:.4f} on validation")
            atomic_torch_save(best_checkpoint(self.ctx, self.winner, self.model, 0, value), self.best_file)
            self.save_last(-1)

    def train_epoch(self, epoch: int) -> dict:
        """One epoch over the sampler's batches; returns the history row (validation metrics added by the caller)."""
        from tqdm import tqdm

        ctx, cfg = self.ctx, self.ctx.config
        batches = epoch_batches(self.sampler, epoch, self.progress.batch_size)
        self.train_model.train()
        images, t0 = 0, time.perf_counter()
        bar = tqdm(batches, desc=f"{self.winner} epoch {epoch + 1}/{self.epochs}", unit="step", leave=False,
                   disable=not (ctx.progress and self.is_main), file=sys.stderr)
        for i, idx in enumerate(bar):
            step = epoch * self.spe + i
            x, y = train_batch(ctx.train, idx, mix_seed(cfg.seed, 1_000_003, step, self.rank), self.norm, ctx.device,
                               augment_fn=ctx.task_impl.augment)
            if i + 1 < len(batches):
                prefetch(ctx.train, batches[i + 1], ctx.device)  # the next batch is gathered meanwhile
            torch.manual_seed(mix_seed(cfg.seed, 1_000_003, step, self.rank, 1))  # dropout: a function of the step
            self.stepper.step(x, y, step)  # no host wait: the loss accumulates on the device
            images += len(idx)
            bar.set_postfix(img_s=f"{images / max(time.perf_counter() - t0, 1e-9):.0f}", refresh=False)
        reading = self.stepper.meter.read()  # one host synchronisation per epoch
        train_seconds = time.perf_counter() - t0
        train_loss = all_reduce_mean({"loss": reading.mean}, ctx.device)["loss"]
        return {"epoch": epoch + 1, "train_loss": train_loss, "lr": self.optimizer.param_groups[0]["lr"],
                "train_seconds": round(train_seconds, 3),
                "train_images_per_s": round(images * self.world_size / train_seconds, 2)}

    def keep(self, epoch: int, row: dict, metrics: dict, writer) -> None:
        """best.pt only when the epoch is better on validation (Metric decides), then last.pt."""
        p, ctx = self.progress, self.ctx
        value = metrics[ctx.metric]
        improved = ctx.objective.better(value, p.best_value)
        if improved:
            p.best_value, p.best_epoch = value, epoch
        p.history.append(row)
        if not self.is_main:
            return
        ctx.log(f"epoch {epoch + 1}/{self.epochs}: train_loss {row['train_loss']:.4f} val_loss {metrics['val_loss']:.4f} "
                f"{ctx.metric} {value:.4f}{' *' if improved else ''}")
        if improved:
            atomic_torch_save(best_checkpoint(ctx, self.winner, self.model, epoch + 1, value), self.best_file)
        self.save_last(epoch)
        if writer is not None:
            for k, v in row.items():
                if k != "epoch" and isinstance(v, (int, float)):
                    writer.add_scalar(k, v, epoch + 1)
            writer.flush()

    def run(self) -> bool:
        """Epochs until the budget or early stopping; True when it stopped early."""
        p, cfg = self.progress, self.ctx.config
        writer = _tensorboard(self.ctx.run_dir / "tensorboard") if self.is_main else None
        try:
            for epoch in range(p.start_epoch, self.epochs):
                if epoch > 0 and epoch - p.best_epoch > cfg.patience:
                    return True
                row = self.train_epoch(epoch)
                metrics = self.validate()
                row.update({k: v for k, v in metrics.items() if isinstance(v, float)})
                self.keep(epoch, row, metrics, writer)
            return False
        finally:
            if writer is not None:
                writer.close()


def _as_test(metrics: dict) -> dict:
    """The evaluation of the test split, its keys named for it (val_top1 -> test_top1)."""
    return {("test_" + k[4:] if k.startswith("val_") else k): v for k, v in metrics.items()}


def finetune(ctx: RunContext, winner: str, *, rank: int = 0, world_size: int = 1,
             ddp_wrap: Callable[[nn.Module], nn.Module] | None = None,
             sampler: EpochSampler | None = None, resume: bool = True) -> FinetuneResult:
    """Fine-tune `winner` from its bake-off checkpoint, keep the best of (start, epochs) on validation,
    and report that model on validation and on the held-out test split."""
    run = FinetuneRun(ctx, winner, rank, world_size, ddp_wrap, sampler, resume)
    p, t_start = run.progress, time.perf_counter()
    if run.is_main:
        ctx.log(f"fine-tune {winner}: {ctx.recipe.strategy} ({ctx.recipe.reason}), lr {_rates(ctx)}, "
                f"batch {p.batch_size}, {run.epochs} epochs max, from {p.started_from}")
    run.baseline()
    stopped_early = run.run()
    if world_size > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
    if run.best_file.is_file():  # rank 0 keeps best.pt; a rank on another machine has none and is not reported
        run.model.load_state_dict(load_checkpoint(run.best_file, ctx.device)["model"])
    final = run.validate()
    test = _as_test(evaluate(run.model, ctx.test, run.norm, ctx.device, p.batch_size, ctx.task_impl, run.loss_fn,
                             run.precision, ctx.num_classes))
    pictures = test_pictures(ctx, run.model, run.norm, test) if run.is_main else []
    kept = "starting checkpoint" if p.best_epoch < 0 else f"epoch {p.best_epoch + 1}"
    threshold = select_threshold(run, ctx) if ctx.task_impl.selects_threshold and run.is_main else None
    if run.is_main:
        ctx.log(f"kept {kept} ({ctx.metric} {p.best_value:.4f} on validation); "
                f"{_test_name(ctx)} {test[_test_name(ctx)]:.4f} on the held-out test split ({len(ctx.test)} images)")
    return FinetuneResult(
        winner=winner, strategy=ctx.recipe.strategy, strategy_reason=ctx.recipe.reason,
        lr=ctx.recipe.lr, lr_range=list(ctx.recipe.lr_range), lr_groups=ctx.recipe.group_rates(),
        head_lr_range=list(ctx.recipe.head_lr_range or ctx.recipe.lr_range), optimizer=ctx.config.optimizer,
        batch_size=p.batch_size, autobatch=p.autobatch, epochs_planned=run.epochs,
        epochs_run=len(p.history), best_epoch=p.best_epoch + 1, kept=kept,
        start_value=p.start_value, stopped_early=stopped_early, started_from=p.started_from,
        seconds=round(time.perf_counter() - t_start, 2),
        autocast=run.precision.autocast,  # the measured (or asked) choice
        world_size=world_size, history=p.history, final=final, test=test,
        test_images=len(ctx.test), selected_on="validation", reported_on="test",
        extra={"metric": ctx.metric, "pictures": pictures,
               **({"threshold": threshold, "threshold_selected_on": "validation"} if threshold is not None else {}),
               **run.precision.as_dict(), **run.compiled.as_dict()})


def test_pictures(ctx: RunContext, model: nn.Module, norm, test_metrics: dict, n: int = 6) -> list[dict]:
    """The task's report pictures from the first `n` test images (files in the run folder; their names
    go to finetune.json, so `hoot report` re-renders without the model)."""
    n = min(n, len(ctx.test))
    if n == 0:
        return []
    images, targets = np.array(ctx.test.images[:n]), np.array(ctx.test.labels[:n])
    model = unwrap(model)
    model.eval()
    x = norm(torch.from_numpy(images).to(ctx.device))
    pictures = ctx.task_impl.report_pictures(model, images, targets, x, ctx.classes, test_metrics, ctx.run_dir)
    return [{"path": pic.path.name, "title": pic.title} for pic in pictures]


def _test_name(ctx: RunContext) -> str:
    return "test_" + ctx.metric[4:]


def _rates(ctx: RunContext) -> str:
    return ", ".join(f"{group} {rate:g}" for group, rate in ctx.recipe.group_rates().items())


def best_checkpoint(ctx: RunContext, winner: str, model: nn.Module, epoch: int, value: float) -> dict:
    """What `hoot predict`/`export` need to rebuild the model: weights + classes, size, normalisation.
    Plain types only, so it loads with torch.load(weights_only=True)."""
    norm = ctx.normalizer(winner)
    return {"hoot_checkpoint": CHECKPOINT_VERSION, "model": unwrap(model).state_dict(), "variant": winner,
            "task": ctx.task, "classes": list(ctx.classes), "image_size": ctx.image_size,
            "mean": list(norm.mean), "std": list(norm.std), "epoch": epoch, "metric": ctx.metric, "value": value,
            "run_id": ctx.config.run_id, "config_fingerprint": ctx.config.fingerprint(),
            "lr_groups": ctx.recipe.group_rates()}
