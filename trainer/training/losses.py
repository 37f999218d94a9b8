"""Loss functions: cross-entropy (optionally label-smoothed), BCE for multi-label, and focal loss
(seeds/003 lists focal with alpha 0.25 and gamma 2.0) for imbalanced data."""

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


def make_loss(task: str, label_smoothing: float = 0.0, focal: bool = False, gamma: float = 2.0) -> nn.Module:
    if task == "multilabel":
        return MultiLabelLoss(focal=focal, gamma=gamma, label_smoothing=label_smoothing)
    if focal:
        return SoftmaxFocalLoss(gamma=gamma, label_smoothing=label_smoothing)
    return nn.CrossEntropyLoss(label_smoothing=label_smoothing)
