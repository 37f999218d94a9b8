"""Fine-tune the bake-off winner with the documents' recipe.

Strategy and learning rate from seeds/004 (trainer.strategy), warm-up then cosine decay,
optional label smoothing and focal loss (seeds/003), early stopping on the validation metric,
autocast on CUDA, automatic batch size on a GPU (bench.autobatch), BatchNorm statistics
re-estimated before every evaluation, a checkpoint every epoch (`last.pt`, atomic) and the
best epoch's weights in `best.pt`. Interrupted runs continue from `last.pt` with --resume.

Written to run inside torchrun processes too (trainer/distributed.py): pass `rank`,
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
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from hoot.trainer.bakeoff import RunContext, atomic_torch_save, build_candidate, checkpoint_path
from hoot.trainer.loop import Stepper, evaluate, recalibrate_bn, unwrap
from hoot.trainer.losses import make_loss
from hoot.trainer.pipeline import EpochSampler, SeededSampler, epoch_batches, mix_seed, prefetch, train_batch
from hoot.trainer.strategy import make_optimizer

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


def _all_reduce_mean(value: float, world_size: int, device: torch.device) -> float:
    if world_size <= 1 or not torch.distributed.is_available() or not torch.distributed.is_initialized():
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    torch.distributed.all_reduce(t)
    return float(t.item()) / world_size


def pick_batch_size(ctx: RunContext, model: nn.Module, loss_fn: nn.Module, precision=None) -> tuple[int, dict | None]:
    """The configured batch on CPU; on a GPU the largest that fits (hoot bench's search), capped so an
    epoch still has about ten steps."""
    cfg = ctx.config
    if ctx.device.type != "cuda" or not cfg.auto_batch:
        return cfg.batch_size, None
    from hoot.bench.autobatch import auto_batch_size

    cap = max(cfg.batch_size, min(1024, len(ctx.train) // 10))
    params = [p for p in model.parameters() if p.requires_grad]
    probe_opt = torch.optim.SGD(params, lr=0.0)

    def step(b: int) -> None:
        x = torch.randn(b, 3, ctx.image_size, ctx.image_size, device=ctx.device)
        y = (torch.randint(0, 2, (b, ctx.num_classes), device=ctx.device) if ctx.task == "multilabel"
             else torch.randint(0, ctx.num_classes, (b,), device=ctx.device))
        from hoot.trainer.precision import autocast_context, default_choice  # gpu helper (issue 10)

        with autocast_context(precision or default_choice(ctx.device), ctx.device):
            out = model(x)
        loss_fn(out.float(), y).backward()
        probe_opt.step()
        probe_opt.zero_grad(set_to_none=True)

    found = auto_batch_size(step, torch, ctx.device, max_batch=cap, cleanup=lambda: probe_opt.zero_grad(set_to_none=True))
    if found.batch_size < 1:
        from hoot.advisor.errors import HootError

        raise HootError(f"'{unwrap(model).hoot_variant}' does not fit in GPU memory even at batch 1 at {ctx.image_size} px; "
                        "lower --image-size or pick a smaller model")
    return found.batch_size, found.as_dict()


def finetune(ctx: RunContext, winner: str, *, rank: int = 0, world_size: int = 1,
             ddp_wrap: Callable[[nn.Module], nn.Module] | None = None,
             sampler: EpochSampler | None = None, resume: bool = True) -> dict:
    """Train `winner` for config.full_epochs (early-stopped) and return its history and final metrics."""
    cfg = ctx.config
    is_main = rank == 0
    run_dir = ctx.run_dir
    epochs = cfg.full_epochs if cfg.full_epochs is not None else default_full_epochs(len(ctx.train))
    model = build_candidate(ctx, winner)
    bakeoff_ckpt = checkpoint_path(ctx, winner)
    started_from = "initial weights"
    if bakeoff_ckpt.is_file():  # continue from the bake-off's training instead of repeating it
        model.load_state_dict(torch.load(bakeoff_ckpt, map_location=ctx.device, weights_only=True)["model"])
        started_from = "bake-off checkpoint"
    loss_fn = make_loss(ctx.task, cfg.label_smoothing, cfg.focal, cfg.focal_gamma)
    norm = ctx.normalizer(winner)
    last_file, best_file = run_dir / "last.pt", run_dir / "best.pt"
    state = None
    if resume and last_file.is_file():
        state = torch.load(last_file, map_location=ctx.device, weights_only=True)
        if state.get("variant") != winner:
            state = None
    from hoot.trainer.device_run import resolve_compile, resolve_precision  # gpu helper (issue 10)
    from hoot.trainer.strategy import make_optimizer as _probe_opt

    precision = resolve_precision(cfg.precision, model, _probe_opt(model, cfg.optimizer, ctx.recipe.lr, cfg.weight_decay),
                                  loss_fn, ctx.device, cfg.batch_size, ctx.image_size, ctx.num_classes, ctx.task,
                                  run_dir / "bakeoff" / f"{winner}.precision.json")
    if precision.channels_last:  # before any DDP wrapper sees the parameters
        model.to(memory_format=torch.channels_last)
    if state is not None:
        batch_size, autobatch = int(state["batch_size"]), state.get("autobatch")
    else:
        batch_size, autobatch = pick_batch_size(ctx, model, loss_fn, precision)
    if sampler is None:
        if world_size > 1:
            from torch.utils.data.distributed import DistributedSampler

            sampler = DistributedSampler(range(len(ctx.train)), num_replicas=world_size, rank=rank, shuffle=True, seed=cfg.seed)
        else:
            sampler = SeededSampler(len(ctx.train), cfg.seed)
    spe = max(1, len(epoch_batches(sampler, 0, batch_size)))
    total_steps = max(1, epochs * spe)
    warmup = max(1, min(total_steps // 2, round(cfg.warmup_epochs * spe)))
    optimizer = make_optimizer(model, cfg.optimizer, ctx.recipe.lr, cfg.weight_decay)
    history: list[dict] = []
    start_epoch, best_value, best_epoch = 0, -math.inf, -1
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch, history = int(state["epoch"]) + 1, json.loads(state["history_json"])
        best_value, best_epoch = float(state["best_value"]), int(state["best_epoch"])
        started_from = f"last.pt (epoch {start_epoch})"
    train_model = ddp_wrap(model) if ddp_wrap is not None else model
    stepper = Stepper(train_model, optimizer, loss_fn, ctx.device, warmup_cosine(ctx.recipe.lr, warmup, total_steps),
                      precision)
    compiled = resolve_compile(cfg.compile, stepper, batch_size, ctx.image_size, ctx.num_classes, ctx.task, total_steps)
    writer = _tensorboard(run_dir / "tensorboard") if is_main else None
    if is_main:
        ctx.log(f"fine-tune {winner}: {ctx.recipe.strategy} ({ctx.recipe.reason}), lr {ctx.recipe.lr:g}, "
                f"batch {batch_size}, {epochs} epochs max, from {started_from}")
    from tqdm import tqdm

    stopped_early, t_start = False, time.perf_counter()
    for epoch in range(start_epoch, epochs):
        if best_epoch >= 0 and epoch - best_epoch > cfg.patience:
            stopped_early = True
            break
        batches = epoch_batches(sampler, epoch, batch_size)
        train_model.train()
        images, t0 = 0, time.perf_counter()
        bar = tqdm(batches, desc=f"{winner} epoch {epoch + 1}/{epochs}", unit="step", leave=False,
                   disable=not (ctx.progress and is_main), file=sys.stderr)
        for i, idx in enumerate(bar):
            step = epoch * spe + i
            x, y = train_batch(ctx.train, idx, mix_seed(cfg.seed, 1_000_003, step, rank), norm, ctx.device)
            if i + 1 < len(batches):
                prefetch(ctx.train, batches[i + 1], ctx.device)  # gpu helper: next batch gathered meanwhile
            torch.manual_seed(mix_seed(cfg.seed, 1_000_003, step, rank, 1))  # dropout: a function of the step
            stepper.step(x, y, step)  # no host wait; the loss accumulates on the device
            images += len(idx)
            bar.set_postfix(img_s=f"{images / max(time.perf_counter() - t0, 1e-9):.0f}", refresh=False)
        reading = stepper.meter.read()  # one host synchronisation per epoch
        train_seconds = time.perf_counter() - t0
        train_loss = _all_reduce_mean(reading.mean, world_size, ctx.device)
        recalibrate_bn(model, ctx.train, norm, ctx.device, batch_size, cfg.bn_recalibration_images)
        metrics = evaluate(model, ctx.val, norm, ctx.device, batch_size, ctx.task, loss_fn)
        row = {"epoch": epoch + 1, "train_loss": train_loss, "lr": optimizer.param_groups[0]["lr"],
               "train_seconds": round(train_seconds, 3), "train_images_per_s": round(images * world_size / train_seconds, 2)}
        row.update({k: v for k, v in metrics.items() if isinstance(v, float)})
        history.append(row)
        value = metrics[ctx.metric]
        improved = value > best_value
        if improved:
            best_value, best_epoch = value, epoch
        if is_main:
            ctx.log(f"epoch {epoch + 1}/{epochs}: train_loss {train_loss:.4f} val_loss {metrics['val_loss']:.4f} "
                    f"{ctx.metric} {value:.4f}{' *' if improved else ''}")
            if improved:
                atomic_torch_save(best_checkpoint(ctx, winner, model, epoch + 1, value), best_file)
            atomic_torch_save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch,
                               "variant": winner, "batch_size": batch_size, "autobatch": autobatch,
                               "history_json": json.dumps(history), "best_value": best_value, "best_epoch": best_epoch},
                              last_file)
            if writer is not None:
                for k, v in row.items():
                    if k != "epoch" and isinstance(v, (int, float)):
                        writer.add_scalar(k, v, epoch + 1)
                writer.flush()
    if writer is not None:
        writer.close()
    if world_size > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
    if best_file.is_file():
        model.load_state_dict(torch.load(best_file, map_location=ctx.device, weights_only=True)["model"])
    else:  # zero epochs: the bake-off weights are the result
        recalibrate_bn(model, ctx.train, norm, ctx.device, batch_size, cfg.bn_recalibration_images)
        if is_main:
            atomic_torch_save(best_checkpoint(ctx, winner, model, 0, float("nan")), best_file)
    final = evaluate(model, ctx.val, norm, ctx.device, batch_size, ctx.task, loss_fn)
    return {"winner": winner, "strategy": ctx.recipe.strategy, "strategy_reason": ctx.recipe.reason,
            "lr": ctx.recipe.lr, "lr_range": list(ctx.recipe.lr_range), "optimizer": cfg.optimizer,
            "batch_size": batch_size, "autobatch": autobatch, "epochs_planned": epochs,
            "epochs_run": len(history), "best_epoch": best_epoch + 1, "stopped_early": stopped_early,
            "started_from": started_from, "seconds": round(time.perf_counter() - t_start, 2),
            "autocast": precision.autocast,  # gpu helper (issue 10): the measured choice
            "world_size": world_size, "history": history, "final": final,
            **precision.as_dict(), **compiled.as_dict()}  # gpu helper (issue 10)


def best_checkpoint(ctx: RunContext, winner: str, model: nn.Module, epoch: int, value: float) -> dict:
    """What `hoot predict`/`export` need to rebuild the model: weights + classes, size, normalisation.
    Plain types only, so it loads with torch.load(weights_only=True)."""
    norm = ctx.normalizer(winner)
    return {"hoot_checkpoint": CHECKPOINT_VERSION, "model": unwrap(model).state_dict(), "variant": winner,
            "task": ctx.task, "classes": list(ctx.classes), "image_size": ctx.image_size,
            "mean": list(norm.mean), "std": list(norm.std), "epoch": epoch, "metric": ctx.metric, "value": value,
            "run_id": ctx.config.run_id}
