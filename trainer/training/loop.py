"""The training and evaluation primitives both the bake-off and the fine-tune use.

- `recalibrate_bn`: re-estimate BatchNorm running statistics on training images before every
  evaluation. torchvision's MobileNetV3 uses BN momentum 0.01, so after a short run its
  running statistics are still mostly ImageNet's (or the initial 0/1) and eval-mode output is
  near chance even when training went well; ranking on that would be an artifact.
- `Stepper`: one optimiser step in the run's precision and layout (trainer.training.precision: fp32 or
  autocast in bf16, or fp16 with a GradScaler; contiguous or channels-last). `Stepper.step`
  never waits on the GPU: the loss is added to a `LossMeter` on the device, which the loops
  read once per log interval or epoch (one host synchronisation, not one per step).
- `choose_precision`: the measured probe of trainer.training.precision on a copy of model and optimiser.
- `evaluate`: loss and the task's metrics over the validation cache (the task's `Evaluator`, fed
  batch by batch), in the precision and layout the run's steps use (one `PrecisionChoice`).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from hoot.trainer.data.cache import SplitCache
from hoot.trainer.tasks import get_task
from hoot.trainer.tasks.base import Task
from hoot.trainer.tasks.criterion import TaskLoss, output_loss
from hoot.trainer.data.pipeline import Normalizer, eval_batches
from hoot.trainer.training.precision import (PrecisionChoice, autocast_context, decide, default_choice, probe_settings,
                                    time_settings)

_BN_TYPES = (nn.modules.batchnorm._BatchNorm,)


def unwrap(model: nn.Module) -> nn.Module:
    """The module under a DDP/compile wrapper."""
    return getattr(model, "module", model)


def has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, _BN_TYPES) for m in model.modules())


@torch.no_grad()
def recalibrate_bn(model: nn.Module, split: SplitCache, norm: Normalizer, device: torch.device,
                   batch_size: int, max_images: int = 2000, precision: PrecisionChoice | None = None) -> int:
    """Reset every BatchNorm's running mean/var and re-estimate them as a cumulative average
    (momentum=None) over up to `max_images` un-augmented training images, in the run's precision
    and layout (`precision`: the step's choice; None: trainer.training.precision's default). Returns images used."""
    bns = [m for m in unwrap(model).modules() if isinstance(m, _BN_TYPES) and m.track_running_stats]
    if not bns:
        return 0
    was_training = model.training
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    choice = precision or default_choice(device)
    model.train()
    used = 0
    # a spread of images, not just the first classes of a sorted cache
    n = len(split)
    take = min(n, max_images)
    idx = np.linspace(0, n - 1, take).round().astype(np.int64) if take < n else np.arange(n)
    for i in range(0, take, batch_size):
        b = idx[i:i + batch_size]
        if len(b) < 2:
            break
        x = norm(split.on(device).gather(b)[0])
        _forward(model, x, choice, device)
        used += len(b)
    for m, mom in zip(bns, momenta):
        m.momentum = mom
    model.train(was_training)
    return used


def _forward(model: nn.Module, x: torch.Tensor, precision: PrecisionChoice, device: torch.device) -> torch.Tensor:
    """The model's forward in the precision and layout its training steps use (one rule for both)."""
    if precision.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with autocast_context(precision, device):
        return unwrap(model)(x)


def as_task(task: "str | Task") -> Task:
    """A task given by name or as itself."""
    return get_task(task) if isinstance(task, str) else task


@torch.no_grad()
def predict_logits(model: nn.Module, split: SplitCache, norm: Normalizer, device: torch.device,
                   batch_size: int, precision: PrecisionChoice | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Outputs and cached targets of `split` in order, evaluated in `precision` (None: the default
    choice); for a task's own post-selection on validation (multi-label's tagging threshold)."""
    model.eval()
    choice = precision or default_choice(device)
    outs, ys = [], []
    for x, y in eval_batches(split, batch_size, norm, device):
        outs.append(_forward(model, x, choice, device).float())
        ys.append(y)
    return torch.cat(outs).cpu().numpy(), torch.cat(ys).cpu().numpy()  # one copy back, after the loop


@torch.no_grad()
def evaluate(model: nn.Module, split: SplitCache, norm: Normalizer, device: torch.device, batch_size: int,
             task: "str | Task", loss_fn: nn.Module, precision: PrecisionChoice | None = None,
             num_classes: int | None = None) -> dict:
    """Validation loss and the task's metrics (top-1, F1/mAP, mIoU, ...) with its per-class rows, evaluated
    in the run's precision (the same `PrecisionChoice` its training steps use), batch by batch."""
    model.eval()
    choice = precision or default_choice(device)
    evaluator = as_task(task).evaluator(num_classes, output_loss(loss_fn))
    for x, y in eval_batches(split, batch_size, norm, device):
        evaluator.update(_forward(model, x, choice, device), y)
    return evaluator.compute().as_dict()


@dataclass(frozen=True)
class LossReading:
    """What a `LossMeter` held when read: mean and last training loss over `steps` steps."""

    mean: float
    last: float
    steps: int


class LossMeter:
    """Training losses summed on the device; `read()` is the only host synchronisation.

    A non-finite loss is remembered on the device too and raised at the next read (at most one
    log interval late; the run stops either way)."""

    def __init__(self, device: torch.device) -> None:
        self.device = torch.device(device)
        self.reset()

    def reset(self) -> None:
        self._sum = torch.zeros((), device=self.device)
        self._last = torch.full((), math.nan, device=self.device)
        self._bad = torch.zeros((), dtype=torch.bool, device=self.device)
        self.steps, self.last_step = 0, -1

    def add(self, loss: torch.Tensor, step: int) -> None:
        loss = loss.detach().float()
        self._sum += loss
        self._last = loss
        self._bad |= ~torch.isfinite(loss)
        self.steps, self.last_step = self.steps + 1, step

    def read(self, reset: bool = True) -> LossReading:
        total, last, bad = torch.stack([self._sum, self._last, self._bad.float()]).tolist()
        steps, last_step = self.steps, self.last_step
        if reset:
            self.reset()
        if bad:
            from hoot.advisor.errors import HootError

            raise HootError(f"training diverged (non-finite loss at or before step {last_step}); "
                            "lower --lr or use --optimizer adamw")
        return LossReading(total / steps if steps else math.nan, last, steps)


class Stepper:
    """One optimiser step in the chosen precision and layout, with a per-step LR.

    `step()` returns the detached loss tensor without waiting on the device; `__call__` is the
    same step read back as a float (a host synchronisation: for tests and one-off use)."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: nn.Module,
                 device: torch.device, lr_at: Callable[[int], float], precision: PrecisionChoice | None = None) -> None:
        self.model, self.optimizer, self.loss_fn, self.device, self.lr_at = model, optimizer, loss_fn, device, lr_at
        self.precision = precision or default_choice(device)
        self.scaler = torch.amp.GradScaler(device.type) if self.precision.grad_scaler else None
        self.meter = LossMeter(device)
        if self.precision.channels_last:
            unwrap(model).to(memory_format=torch.channels_last)

    def step(self, x: torch.Tensor, y: torch.Tensor, step: int) -> torch.Tensor:
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr_at(step) * group.get("lr_scale", 1.0)
        self.optimizer.zero_grad(set_to_none=True)
        if self.precision.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast_context(self.precision, self.device):
            if isinstance(self.loss_fn, TaskLoss):  # the task computes it from (model, x, targets)
                loss = self.loss_fn(self.model, x, y).float()
            else:
                out = self.model(x)
        if not isinstance(self.loss_fn, TaskLoss):  # a plain loss on the model's outputs
            loss = self.loss_fn(out.float(), y)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        loss = loss.detach()
        self.meter.add(loss, step)
        return loss

    def __call__(self, x: torch.Tensor, y: torch.Tensor, step: int) -> float:
        value = float(self.step(x, y, step))
        if not math.isfinite(value):
            from hoot.advisor.errors import HootError

            raise HootError(f"training diverged (loss {value} at step {step}); lower --lr or use --optimizer adamw")
        return value


def choose_precision(model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: nn.Module, device: torch.device,
                     batch_size: int, image_size: int, num_classes: int, task: "str | Task" = "classification",
                     probe: bool | None = None, timer: Callable[[], float] = time.perf_counter) -> PrecisionChoice:
    """Measure fp32/half x contiguous/channels-last for this model on `device` (on copies, RNG state
    restored, so the run itself is untouched) and return the fastest. `probe=None`: on CUDA only."""
    if probe is None:
        probe = device.type == "cuda"
    if not probe:
        return default_choice(device)
    def make_runner(autocast: str | None, channels_last: bool) -> Callable[[], None]:
        m, opt = copy.deepcopy((unwrap(model), optimizer))
        lr = opt.param_groups[0]["lr"]
        st = Stepper(m, opt, loss_fn, device, lambda s: lr, PrecisionChoice(autocast, channels_last, "probe"))
        return lambda: st.step(x, y, 0)

    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    settings = probe_settings(device, force_half=None if device.type == "cuda" else "bf16")
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        x = torch.randn(batch_size, 3, image_size, image_size, device=device)
        y = as_task(task).fake_targets(batch_size, image_size, num_classes, device)
        rates = time_settings(make_runner, settings, batch_size, timer=timer, sync=sync)
    choice = decide(rates, settings, source=f"probe ({device.type}, batch {batch_size}, {image_size} px)")
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return choice


def measure_latency(model: nn.Module, image_size: int, device: torch.device) -> Any:
    """Batch-1 eval latency by `hoot bench`'s method (bench.measure.measure_call, its --quick budget on
    this device: warm-up, timed blocks, the machine's business watched); a bench.measure.Timing.
    Timed in the form the model ships (train-time branches folded, on a copy: training goes on)."""
    from hoot.bench.measure import CUDATimer, budget_for, measure_call
    from hoot.bench.models import deployable

    trained = unwrap(model)
    was_training = trained.training
    m = deployable(trained.eval())
    x = torch.randn(1, 3, image_size, image_size, device=device)
    cuda = device.type == "cuda"
    try:
        with torch.inference_mode():
            return measure_call(lambda: m(x), torch.get_num_threads(), budget_for(device.type, quick=True),
                                (device.index or 0) if cuda else None, CUDATimer(torch, device) if cuda else None)
    finally:
        trained.train(was_training)


class Stopwatch:
    def __init__(self) -> None:
        self.t0 = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0
