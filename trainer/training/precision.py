"""Precision and memory layout for a training step, chosen by measuring this model on this GPU.

Why measure instead of a rule: on an H100 bf16 autocast with channels-last did not speed up
small models at 64 px (2,700-10,000 images/s against 3,800-10,000 in fp32, issue 10), while
it does for large models at 224 px. So a short probe times a few optimiser steps (warm-up
excluded, synchronised) of each setting - fp32 or autocast (bf16 where the GPU supports it,
else fp16 with a GradScaler), contiguous or channels-last - on a throw-away copy of the model
and optimiser, and keeps the fastest. fp32/contiguous stays unless another setting is faster
by more than `MARGIN` (timing noise must not flip the run's numerics). On the CPU the probe
is skipped (fp32, contiguous) unless asked for. The decision is a typed record the bake-off
and the fine-tune store with their results.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import torch

log = logging.getLogger(__name__)

#: another setting must beat fp32/contiguous by this fraction to be chosen
MARGIN = 0.05
PROBE_WARMUP_STEPS = 3
PROBE_TIMED_STEPS = 5


@dataclass(frozen=True)
class PrecisionChoice:
    """How a step runs: autocast dtype ('bf16', 'fp16' or None for fp32), layout, and why."""

    autocast: str | None = None
    channels_last: bool = False
    source: str = "default"
    images_per_s: dict[str, float] = field(default_factory=dict)

    @property
    def dtype(self) -> torch.dtype | None:
        return {"bf16": torch.bfloat16, "fp16": torch.float16, None: None}[self.autocast]

    @property
    def grad_scaler(self) -> bool:
        """fp16 needs loss scaling (its exponent range underflows small gradients); bf16 does not."""
        return self.autocast == "fp16"

    @property
    def label(self) -> str:
        return setting_label(self.autocast, self.channels_last)

    def as_dict(self) -> dict:
        return {"precision": self.autocast or "fp32", "channels_last": self.channels_last,
                "grad_scaler": self.grad_scaler, "precision_source": self.source,
                "probe_images_per_s": {k: round(v, 1) for k, v in self.images_per_s.items()}}


def setting_label(autocast: str | None, channels_last: bool) -> str:
    return f"{autocast or 'fp32'}{'+channels_last' if channels_last else ''}"


def half_precision(device: torch.device) -> str | None:
    """'bf16' where the GPU supports it, else 'fp16'; None on a CPU."""
    if device.type != "cuda":
        return None
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def default_choice(device: torch.device) -> PrecisionChoice:
    """Without a probe: fp32/contiguous on the CPU, autocast in half precision on CUDA (hoot's old rule)."""
    if device.type != "cuda":
        return PrecisionChoice(None, False, "cpu: probe skipped (fp32, contiguous)")
    return PrecisionChoice(half_precision(device), False, "rule: half-precision autocast on CUDA (not probed)")


def probe_settings(device: torch.device, force_half: str | None = None) -> list[tuple[str | None, bool]]:
    """The settings a probe compares on `device`: fp32 and half precision, contiguous and channels-last."""
    half = force_half or half_precision(device)
    out: list[tuple[str | None, bool]] = [(None, False), (None, True)]
    if half is not None:
        out += [(half, False), (half, True)]
    return out


def autocast_context(choice: PrecisionChoice, device: torch.device):
    if choice.dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=choice.dtype)


def time_settings(make_runner: Callable[[str | None, bool], Callable[[], None]],
                  settings: Iterable[tuple[str | None, bool]], batch_size: int, *,
                  warmup: int = PROBE_WARMUP_STEPS, steps: int = PROBE_TIMED_STEPS,
                  timer: Callable[[], float] = time.perf_counter,
                  sync: Callable[[], None] = lambda: None) -> dict[str, float]:
    """images/s of each setting: `warmup` untimed steps, then `steps` timed ones closed by `sync`.
    A setting whose runner fails (an op without a half kernel, out of memory) gets 0."""
    rates: dict[str, float] = {}
    for autocast, channels_last in settings:
        label = setting_label(autocast, channels_last)
        try:
            run = make_runner(autocast, channels_last)
            for _ in range(warmup):
                run()
            sync()
            t0 = timer()
            for _ in range(steps):
                run()
            sync()
            dt = timer() - t0
        except (RuntimeError, ValueError) as exc:
            log.info("precision probe: %s failed (%s)", label, exc)
            rates[label] = 0.0
            continue
        rates[label] = steps * batch_size / dt if dt > 0 else float("inf")
    return rates


def decide(rates: dict[str, float], settings: Iterable[tuple[str | None, bool]], margin: float = MARGIN,
           source: str = "probe") -> PrecisionChoice:
    """The fastest setting; fp32/contiguous unless another beats it by more than `margin`."""
    settings = list(settings)
    baseline = setting_label(None, False)
    best = max(settings, key=lambda s: rates.get(setting_label(*s), 0.0))
    base_rate = rates.get(baseline, 0.0)
    if base_rate > 0 and rates.get(setting_label(*best), 0.0) <= base_rate * (1.0 + margin):
        best = (None, False)
    return PrecisionChoice(best[0], best[1], source, dict(rates))


def from_dict(data: dict) -> PrecisionChoice:
    """The record back from `as_dict()` (a run folder's precision file)."""
    auto = data.get("precision")
    return PrecisionChoice(None if auto in (None, "fp32") else auto, bool(data.get("channels_last")),
                           str(data.get("precision_source", "saved")), dict(data.get("probe_images_per_s") or {}))


def fixed_choice(name: str, device: torch.device) -> PrecisionChoice | None:
    """The choice `--precision NAME` forces ('fp32', 'bf16', 'fp16', with '+channels_last'), or None for
    'auto' / 'probe' (measured)."""
    if name in ("auto", "probe"):
        return None
    base, _, layout = name.partition("+")
    if base not in ("fp32", "bf16", "fp16") or layout not in ("", "channels_last"):
        raise ValueError(f"precision '{name}' is not auto, probe, fp32, bf16 or fp16 (optionally +channels_last)")
    return PrecisionChoice(None if base == "fp32" else base, layout == "channels_last", f"asked: --precision {name}")


def agree(choice: PrecisionChoice) -> PrecisionChoice:
    """Under torch.distributed every rank takes rank 0's choice (ranks that measured alike may still differ)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return choice
    box = [choice.as_dict()]
    dist.broadcast_object_list(box, src=0)
    return from_dict(box[0])
