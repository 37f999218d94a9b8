"""Segmentation models as hoot trains them: logits (N, C, H, W) as one tensor, whichever package
built the network (torchvision's return a dict with `out` and maybe `aux`; smp's the tensor)."""

from __future__ import annotations

import torch
from torch import nn


class SegmentationModel(nn.Module):
    """A segmentation network that returns its per-pixel logits as one tensor, so training,
    evaluation and export take it like a classifier's logits (torchvision's `aux` output, when a
    model has one, is not trained: hoot trains on `out`)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        for attr in ("hoot_variant", "hoot_task", "hoot_source", "hoot_source_version"):
            setattr(self, attr, getattr(model, attr, None))
        # the parts that start fresh, named as this wrapper's parameters are (what strategies freeze around)
        self.hoot_head_names = [f"model.{n}" for n in getattr(model, "hoot_head_names", None) or []]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        return out["out"] if isinstance(out, dict) else out
