"""torchvision's segmentation models as hoot trains them: `out` logits as one tensor, the head sized
for the user's classes."""

from __future__ import annotations

import torch
from torch import nn


class SegmentationModel(nn.Module):
    """A torchvision segmentation model that returns its `out` logits (N, C, H, W) as one tensor, so
    training, evaluation and export take it like a classifier's logits."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        for attr in ("hoot_variant", "hoot_task", "hoot_head_names"):
            setattr(self, attr, getattr(model, attr, None))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)["out"]


def replace_head(model: nn.Module, old_classes: int, num_classes: int) -> list[str]:
    """Swap every classifier conv with `old_classes` outputs (FCN/DeepLab's last conv, LRASPP's two) for
    one with `num_classes`; the auxiliary head is dropped (hoot trains on `out`)."""
    if getattr(model, "aux_classifier", None) is not None:
        model.aux_classifier = None
    replaced = []
    for name, module in list(model.classifier.named_modules()):
        if isinstance(module, nn.Conv2d) and module.out_channels == old_classes:
            new = nn.Conv2d(module.in_channels, num_classes, module.kernel_size, module.stride, module.padding,
                            bias=module.bias is not None)
            parent_name, _, child = name.rpartition(".")
            parent = model.classifier.get_submodule(parent_name) if parent_name else model.classifier
            setattr(parent, child, new)
            replaced.append("classifier." + name)
    return replaced
