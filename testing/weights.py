"""Weights files written where each package's own cache keeps them, so tests load pretrained
weights through the real loading path without a download."""

from __future__ import annotations

import os
from pathlib import Path

import torch


def write_hub_file(repo_id: str, revision: str, state: dict[str, torch.Tensor]) -> Path:
    """Write `state` where the Hugging Face hub cache (HF_HUB_CACHE) keeps repo_id's model.safetensors
    at `revision` (timm's and smp's weights both live there)."""
    from safetensors.torch import save_file

    repo = Path(os.environ["HF_HUB_CACHE"]) / f"models--{repo_id.replace('/', '--')}"
    path = repo / "snapshots" / revision / "model.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    return path


def write_smp_encoder_file(encoder: str, state: dict[str, torch.Tensor]) -> Path:
    """`state` as smp's pinned ImageNet weights of `encoder` (its hub repository and revision)."""
    from segmentation_models_pytorch.encoders import encoders

    settings = encoders[encoder]["pretrained_settings"]["imagenet"]
    return write_hub_file(settings["repo_id"], settings["revision"], state)
