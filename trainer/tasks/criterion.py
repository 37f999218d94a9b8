"""A task's training loss as the training step calls it: (model, images, targets) -> scalar.

Why a wrapper: a classifier's loss is a function of its logits, but a torchvision detector
computes its own losses from (images, targets) inside its forward. The step calls this one
signature, so it never asks which task it is; evaluation uses `output_loss` on eval outputs.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn


class HasTrainingLoss(Protocol):
    """The part of hoot.trainer.tasks.base.Task a training step needs (named here so this module
    does not import base, which builds TaskLoss)."""

    def training_loss(self, model: nn.Module, x: torch.Tensor, targets: torch.Tensor,
                      loss_fn: nn.Module) -> torch.Tensor: ...


class TaskLoss(nn.Module):
    """`task.training_loss(model, x, targets, output_loss)`; `output_loss(outputs, targets)` for evaluation."""

    def __init__(self, task: HasTrainingLoss, output_loss: nn.Module) -> None:
        super().__init__()
        self.task, self.output_loss = task, output_loss

    def forward(self, model: nn.Module, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.task.training_loss(model, x, targets, self.output_loss)


def output_loss(loss_fn: nn.Module) -> nn.Module:
    """The loss on model outputs inside `loss_fn` (itself when it is a plain output loss)."""
    return loss_fn.output_loss if isinstance(loss_fn, TaskLoss) else loss_fn
