"""What one timed call is: random inputs shaped for the model kind, autocast, one training step.

Shared by the bench child (bench.worker) and the CUDA graph capture (bench.graphs).
"""

from __future__ import annotations

import contextlib
import gc
from typing import Any

import torch
from torch import nn

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def make_input(kind: str, batch: int, size: int, device: Any, channels_last: bool = False) -> Any:
    """Random images shaped for the model kind (detection models take a list of images)."""
    if kind == "detection":
        return [torch.randn(3, size, size, device=device) for _ in range(batch)]
    x = torch.randn(batch, 3, size, size, device=device)
    if channels_last and str(device) != "meta":
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def _logits(out: Any) -> torch.Tensor:
    """The main output of a classifier or segmenter in train mode (Inception's aux heads included)."""
    if isinstance(out, dict):
        return out["out"]
    if isinstance(out, torch.Tensor):
        return out
    main = getattr(out, "logits", None)
    return main if main is not None else out[0]


def _autocast(device: torch.device, dtype: str) -> contextlib.AbstractContextManager:
    if dtype == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=DTYPES[dtype])


def _release(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _error_text(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300] if text else ''}".strip()


class Trainer:
    """One training step (forward, backward, SGD step), with a grad scaler for fp16 on CUDA."""

    def __init__(self, model: nn.Module, kind: str, device: torch.device, dtype: str, size: int,
                 channels_last: bool):
        self.model, self.kind, self.device, self.dtype, self.size = model, kind, device, dtype, size
        self.channels_last = channels_last
        self.num_classes: int | None = None  # read off the model's output on first use
        self.optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
        self.scaler = torch.amp.GradScaler(device.type, enabled=(dtype == "fp16" and device.type == "cuda"))
        self.loss = nn.CrossEntropyLoss()
        self.batch: tuple[Any, Any] | None = None

    def prepare(self, batch: int) -> None:
        x = make_input(self.kind, batch, self.size, self.device, self.channels_last)
        if self.num_classes is None:
            was_training = self.model.training
            self.model.eval()
            with torch.no_grad(), _autocast(self.device, self.dtype):
                self.num_classes = int(_logits(self.model(x[:1])).shape[1])
            self.model.train(was_training)
        if self.kind == "segmentation":
            y = torch.randint(0, self.num_classes, (batch, self.size, self.size), device=self.device)
        else:
            y = torch.randint(0, self.num_classes, (batch,), device=self.device)
        self.batch = (x, y)

    def step(self) -> None:
        assert self.batch is not None
        x, y = self.batch
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        with _autocast(self.device, self.dtype):
            out = self.model(x)
            loss = self.loss(_logits(out), y)
            aux = getattr(out, "aux_logits", None) if not isinstance(out, (dict, torch.Tensor)) else None
            if isinstance(aux, torch.Tensor):
                loss = loss + 0.4 * self.loss(aux, y)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()

    def step_at(self, batch: int) -> None:
        """One step at a new batch size (the auto batch size search)."""
        self.prepare(batch)
        self.step()

    def cleanup(self) -> None:
        self.batch = None
        self.optimizer.zero_grad(set_to_none=True)


def inference_context(device: torch.device, dtype: str) -> contextlib.ExitStack:
    """inference_mode plus autocast at `dtype`."""
    stack = contextlib.ExitStack()
    stack.enter_context(torch.inference_mode())
    stack.enter_context(_autocast(device, dtype))
    return stack
