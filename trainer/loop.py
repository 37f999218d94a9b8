"""The training and evaluation primitives both the bake-off and the fine-tune use.

- `recalibrate_bn`: re-estimate BatchNorm running statistics on training images before every
  evaluation. torchvision's MobileNetV3 uses BN momentum 0.01, so after a short run its
  running statistics are still mostly ImageNet's (or the initial 0/1) and eval-mode output is
  near chance even when training went well; ranking on that would be an artifact.
- `train_step`: one optimiser step, autocast (bf16, or fp16 with a GradScaler) on CUDA.
- `evaluate`: loss and the task's metrics over the validation cache.
"""

from __future__ import annotations

import contextlib
import time
from typing import Callable

import numpy as np
import torch
from torch import nn

from hoot.trainer.cache import SplitCache
from hoot.trainer.metrics import classification_metrics, multilabel_metrics
from hoot.trainer.pipeline import Normalizer, eval_batches

_BN_TYPES = (nn.modules.batchnorm._BatchNorm,)


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """bf16 where the GPU supports it (no loss scaling needed), else fp16; None on CPU (fp32)."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(device: torch.device):
    dtype = autocast_dtype(device)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=dtype)


def unwrap(model: nn.Module) -> nn.Module:
    """The module under a DDP/compile wrapper."""
    return getattr(model, "module", model)


def has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, _BN_TYPES) for m in model.modules())


@torch.no_grad()
def recalibrate_bn(model: nn.Module, split: SplitCache, norm: Normalizer, device: torch.device,
                   batch_size: int, max_images: int = 2000) -> int:
    """Reset every BatchNorm's running mean/var and re-estimate them as a cumulative average
    (momentum=None) over up to `max_images` un-augmented training images. Returns images used."""
    bns = [m for m in unwrap(model).modules() if isinstance(m, _BN_TYPES) and m.track_running_stats]
    if not bns:
        return 0
    was_training = model.training
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
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
        x = norm(torch.from_numpy(np.ascontiguousarray(split.images[b])).to(device))
        with autocast(device):
            unwrap(model)(x)
        used += len(b)
    for m, mom in zip(bns, momenta):
        m.momentum = mom
    model.train(was_training)
    return used


@torch.no_grad()
def predict_logits(model: nn.Module, split: SplitCache, norm: Normalizer, device: torch.device,
                   batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    model.eval()
    outs, ys = [], []
    for x, y in eval_batches(split, batch_size, norm, device):
        with autocast(device):
            out = unwrap(model)(x)
        outs.append(out.float().cpu())
        ys.append(y.cpu())
    return torch.cat(outs).numpy(), torch.cat(ys).numpy()


def evaluate(model: nn.Module, split: SplitCache, norm: Normalizer, device: torch.device, batch_size: int,
             task: str, loss_fn: nn.Module) -> dict:
    """Validation loss and metrics (top-1 etc. or F1/mAP), with the raw confusion matrix/per-class rows."""
    logits, y = predict_logits(model, split, norm, device, batch_size)
    with torch.no_grad():
        loss = float(loss_fn(torch.from_numpy(logits), torch.from_numpy(y)))
    metrics = multilabel_metrics(logits, y) if task == "multilabel" else classification_metrics(logits, y)
    metrics["val_loss"] = loss
    # ~0 when the network outputs the same logits for every image (e.g. SqueezeNet's ReLU head died)
    metrics["val_logit_spread"] = float(logits.std(axis=0).mean()) if len(logits) > 1 else 0.0
    return metrics


class Stepper:
    """One optimiser step with autocast on CUDA (GradScaler only for fp16) and a per-step LR."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: nn.Module,
                 device: torch.device, lr_at: Callable[[int], float]) -> None:
        self.model, self.optimizer, self.loss_fn, self.device, self.lr_at = model, optimizer, loss_fn, device, lr_at
        self.scaler = torch.amp.GradScaler("cuda") if autocast_dtype(device) == torch.float16 else None

    def __call__(self, x: torch.Tensor, y: torch.Tensor, step: int) -> float:
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr_at(step) * group.get("lr_scale", 1.0)
        self.optimizer.zero_grad(set_to_none=True)
        with autocast(self.device):
            out = self.model(x)
        loss = self.loss_fn(out.float(), y)
        if not torch.isfinite(loss):
            from hoot.advisor.errors import HootError

            raise HootError(f"training diverged (loss {float(loss)} at step {step}); lower --lr or use --optimizer adamw")
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        return float(loss.detach())


def measure_latency_ms(model: nn.Module, image_size: int, device: torch.device, min_run_time: float = 0.3) -> float:
    """Median batch-1 eval latency (torch.utils.benchmark, warm-up included); the quick fallback
    when `hoot bench` has not measured this variant on this machine."""
    from torch.utils import benchmark

    m = unwrap(model)
    was_training = m.training
    m.eval()
    x = torch.randn(1, 3, image_size, image_size, device=device)
    with torch.inference_mode():
        for _ in range(3):
            m(x)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = benchmark.Timer("m(x)", globals={"m": m, "x": x}, num_threads=torch.get_num_threads())
        result = t.blocked_autorange(min_run_time=min_run_time)
    m.train(was_training)
    return float(result.median * 1000.0)


class Stopwatch:
    def __init__(self) -> None:
        self.t0 = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0
