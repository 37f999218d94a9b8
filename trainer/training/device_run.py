"""The device decisions of one training job (a bake-off rung or the fine-tune), in one place.

- `log_interval(device)`: how many steps run between reads of the loss meter (the only host
  synchronisation of the step loop). 1 on the CPU, where reading costs nothing and a
  per-step progress bar and wall-clock budget stay exact; more on a GPU, so the host queues
  work ahead of the device instead of waiting for it.
- `resolve_precision`: `--precision` (auto: probe on CUDA, fp32 on the CPU; probe: measure
  anywhere; or a fixed setting), reusing a decision saved in the run folder for the same
  model, device, batch and size, and agreed across DDP ranks.
- `resolve_compile`: `--compile` (off by default; auto measures `compiled.compile_benefit`).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
from torch import nn

from hoot.trainer.tasks.base import Task
from hoot.trainer.training.compiled import CompileDecision, compile_benefit, compile_model
from hoot.trainer.training.loop import Stepper, as_task, choose_precision, unwrap
from hoot.trainer.training.precision import PrecisionChoice, agree, default_choice, fixed_choice, from_dict

log = logging.getLogger(__name__)

#: steps between loss-meter reads on a GPU
GPU_LOG_INTERVAL = 25


def log_interval(device: torch.device) -> int:
    return 1 if device.type == "cpu" else GPU_LOG_INTERVAL


def _device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else device.type


def resolve_precision(name: str, model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: nn.Module,
                      device: torch.device, batch_size: int, image_size: int, num_classes: int, task: "str | Task",
                      memo: Path | None = None) -> PrecisionChoice:
    """The step's precision and layout for this job (see the module doc); never changes `model`."""
    fixed = fixed_choice(name, device)
    if fixed is not None:
        if fixed.autocast is not None and device.type != "cuda":
            log.info("precision %s asked on %s", fixed.label, device.type)
        return fixed
    if name == "auto" and device.type != "cuda":
        return default_choice(device)
    key = f"{_device_name(device)}|batch {batch_size}|{image_size} px"
    if memo is not None and memo.is_file():
        try:
            saved = json.loads(memo.read_text())
            if saved.get("key") == key:
                return agree(from_dict(saved))
        except (OSError, ValueError):
            pass
    choice = agree(choose_precision(model, optimizer, loss_fn, device, batch_size, image_size, num_classes, task,
                                    probe=True))
    log.info("precision for %s: %s (%s; images/s %s)", getattr(unwrap(model), "hoot_variant", "model"), choice.label,
             choice.source, {k: round(v) for k, v in choice.images_per_s.items()})
    if memo is not None:
        try:
            memo.parent.mkdir(parents=True, exist_ok=True)
            memo.write_text(json.dumps(choice.as_dict() | {"key": key}, indent=2))
        except OSError:
            pass
    return choice


def resolve_compile(mode: str, stepper: Stepper, batch_size: int, image_size: int, num_classes: int, task: "str | Task",
                    run_steps: int) -> CompileDecision:
    """Apply `--compile` to `stepper` (its model is swapped for the compiled one; the caller keeps the
    original module for state dicts). 'auto' compiles only on CUDA and only when measured faster over
    `run_steps` steps including the compile time."""
    if mode == "off" or (mode == "auto" and stepper.device.type != "cuda"):
        return CompileDecision("off", run_steps, source="off" if mode == "off" else "auto: off on the CPU")
    if mode != "auto":
        stepper.model = compile_model(stepper.model, mode)
        return CompileDecision(mode, run_steps, source=f"asked: --compile {mode}")
    import copy

    device = stepper.device
    m, opt = copy.deepcopy((unwrap(stepper.model), stepper.optimizer))
    eager = Stepper(m, opt, stepper.loss_fn, device, stepper.lr_at, stepper.precision)
    comp = Stepper(compile_model(m, "default"), opt, stepper.loss_fn, device, stepper.lr_at, stepper.precision)
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        x = torch.randn(batch_size, 3, image_size, image_size, device=device)
        y = as_task(task).fake_targets(batch_size, image_size, num_classes, device)
        decision = compile_benefit(lambda: eager.step(x, y, 0), lambda: comp.step(x, y, 0), run_steps, "default",
                                   sync=sync)
    del m, opt, eager, comp
    if decision.mode != "off":
        stepper.model = compile_model(stepper.model, decision.mode)
    return decision
