"""The loss modules the tasks build (torch, imported only when a task makes its loss): the classifier's
focal loss, multi-label BCE/focal, and the segmentation wrappers around segmentation-models-pytorch."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import sigmoid_focal_loss

class SoftmaxFocalLoss(nn.Module):
    """Focal loss for single-label classification: (1 - p_t)^gamma down-weights easy examples."""

    def __init__(self, gamma: float = 2.0, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.gamma, self.label_smoothing = gamma, label_smoothing

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logp = F.log_softmax(logits.float(), dim=1)
        ce = F.nll_loss(logp, target, reduction="none")
        if self.label_smoothing:
            ce = (1 - self.label_smoothing) * ce - self.label_smoothing * logp.mean(dim=1)
        pt = logp.gather(1, target.unsqueeze(1)).squeeze(1).exp()
        return ((1 - pt) ** self.gamma * ce).mean()


class MultiLabelLoss(nn.Module):
    """Sigmoid + BCE per tag (or sigmoid focal loss); targets are multi-hot."""

    def __init__(self, focal: bool = False, gamma: float = 2.0, alpha: float = 0.25, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.focal, self.gamma, self.alpha, self.label_smoothing = focal, gamma, alpha, label_smoothing

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        t = target.float()
        if self.label_smoothing:
            t = t * (1 - self.label_smoothing) + 0.5 * self.label_smoothing
        if self.focal:
            return sigmoid_focal_loss(logits.float(), t, alpha=self.alpha, gamma=self.gamma, reduction="mean")
        return F.binary_cross_entropy_with_logits(logits.float(), t)


class SoftmaxDiceCE(nn.Module):
    """dice_ce: smp's multiclass Dice plus cross-entropy (seeds/003's combination), ignoring 255."""

    def __init__(self, ignore_index: int) -> None:
        super().__init__()
        from segmentation_models_pytorch.losses import DiceLoss

        self.dice = DiceLoss("multiclass", ignore_index=ignore_index)
        self.ce = nn.CrossEntropyLoss(ignore_index=ignore_index)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.dice(logits, target) + self.ce(logits, target)


class MaskLoss(nn.Module):
    """A loss on (N,C,H,W) logits and uint8 masks: masks become int64 class indices first."""

    def __init__(self, loss: nn.Module) -> None:
        super().__init__()
        self.loss = loss

    def forward(self, logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        return self.loss(logits.float(), masks.long())
