"""The one place that builds a model from a catalog name (task head, classes, weights).

Every command (bench, shortlist, export, predict) builds through `build_model`, so a
variant means the same network everywhere. Pretrained weights come from torchvision's
weights API and its cache (TORCH_HOME / torch.hub.get_dir()); offline, a missing file is
a one-line HootError that names the file and the folder to put it in, never a hang.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
import torchvision
from torch import nn

from hoot.advisor.catalog import Catalog, Variant, load_catalog
from hoot.advisor.errors import HootError

#: ImageNet-1K classifiers end in a 1000-way layer; detection/segmentation use other counts
IMAGENET_CLASSES = 1000


def weights_enum(variant: Variant) -> Any | None:
    """The torchvision weights enum member for a variant's default weights (None if it has none)."""
    if not variant.weights:
        return None
    return torchvision.models.get_weight(variant.weights)


def weights_cache_path(weights: Any) -> Path:
    """Where torchvision's cache keeps a weights file: <hub dir>/checkpoints/<file name>."""
    filename = os.path.basename(urlparse(weights.url).path)
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def load_weights_state_dict(weights: Any) -> dict[str, torch.Tensor]:
    """Read a weights file from torchvision's cache, never from the network.

    Tests write a file into a temporary TORCH_HOME to exercise this path; users put the
    downloaded file there (or run once with network access, which fills the cache).
    """
    path = weights_cache_path(weights)
    if not path.is_file():
        allow_download = os.environ.get("HOOT_ALLOW_DOWNLOAD", "0") not in ("", "0")
        if allow_download:
            return weights.get_state_dict(progress=False, check_hash=True)
        raise HootError(
            f"pretrained weights file '{path.name}' is not in torchvision's cache: download {weights.url} "
            f"into {path.parent}/ (or set HOOT_ALLOW_DOWNLOAD=1 with network access), or pass --no-pretrained"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a truncated or foreign file
        raise HootError(
            f"pretrained weights file '{path}' cannot be loaded ({type(exc).__name__}: {exc}); "
            "delete it and download it again, or pass --no-pretrained"
        ) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    return state


def _replace_classifier(model: nn.Module, num_classes: int, old_classes: int = IMAGENET_CLASSES) -> list[str]:
    """Swap every `old_classes`-way output layer (main and auxiliary heads) for a `num_classes` one.

    Works across torchvision's classifiers without a per-family table: the heads are the
    Linear (or SqueezeNet's 1x1 Conv2d) layers whose output width is the class count.
    Returns the qualified names of the replaced modules (the "head" for freezing).
    """
    replaced: list[str] = []
    for name, module in list(model.named_modules()):
        new: nn.Module | None = None
        if isinstance(module, nn.Linear) and module.out_features == old_classes:
            new = nn.Linear(module.in_features, num_classes, bias=module.bias is not None)
        elif isinstance(module, nn.Conv2d) and module.out_channels == old_classes:
            new = nn.Conv2d(module.in_channels, num_classes, module.kernel_size, module.stride, module.padding)
        if new is None:
            continue
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, new)
        replaced.append(name)
    if not replaced:
        raise HootError(f"cannot find the {old_classes}-way classifier of {type(model).__name__} to resize its head")
    return replaced


def load_except_head(model: nn.Module, state: dict[str, torch.Tensor]) -> list[str]:
    """Load COCO/VOC weights into a model built for the user's classes: every tensor whose shape
    fits is loaded; the class-count-shaped ones (the head) keep their fresh initialisation.
    Returns the modules left fresh (the replaced head); a state that fits nothing else is an error."""
    own = model.state_dict()
    fitting = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    fresh = sorted({k.rsplit(".", 1)[0] for k in own if k not in fitting and not k.endswith("num_batches_tracked")})
    if len(fitting) < len(own) // 2:
        raise HootError(f"the pretrained weights fit only {len(fitting)} of {len(own)} tensors of "
                        f"{type(model).__name__}: they are for another model; pass --no-pretrained")
    model.load_state_dict(fitting, strict=False)
    return fresh


def build_model(
    name: str,
    task: str = "classification",
    num_classes: int | None = None,
    pretrained: bool = False,
    catalog: Catalog | None = None,
    **builder_kwargs: Any,
) -> nn.Module:
    """Build catalog variant `name` for `task`, with `num_classes` outputs, optionally pretrained.

    - classification / multilabel: torchvision's classifier, head resized to `num_classes`
      (pretrained weights are loaded first, so the backbone keeps them).
    - detection / segmentation: the builder the catalog names for the task; `num_classes`
      goes to the builder; pretrained COCO/VOC weights load into everything but the
      class-count-shaped head, which starts fresh (`hoot_head_names` lists it).
    The module gets `hoot_variant`, `hoot_task` and `hoot_head_names` attributes.
    """
    cat = catalog or load_catalog()
    variant = cat.get(name)
    if not variant.provided:
        raise HootError(f"'{name}' is listed for reference but torchvision does not provide it; pick a provided variant")
    builder_name = variant.builder_for(task)
    if not builder_name:
        supported = [t for t, b in variant.task_builders.items() if b]
        raise HootError(f"'{name}' does not support task '{task}'; it supports: {', '.join(supported) or 'none'}")
    try:
        builder = torchvision.models.get_model_builder(builder_name)
    except ValueError:
        raise HootError(f"torchvision {torchvision.__version__} has no model '{builder_name}'; upgrade torchvision or edit the catalog") from None

    # the entry whose weights fit this builder (resnet50's detection builder has its own entry)
    builder_variant = variant if builder_name == name else cat.get(builder_name)
    if task in ("classification", "multilabel"):
        model = builder(weights=None, **builder_kwargs)
        if pretrained:
            w = weights_enum(builder_variant)
            if w is None:
                raise HootError(f"'{name}' has no pretrained weights in torchvision; pass --no-pretrained")
            model.load_state_dict(load_weights_state_dict(w))
        if num_classes is not None and num_classes != IMAGENET_CLASSES:
            head = _replace_classifier(model, num_classes)
        else:
            head = [n for n, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))
                    and getattr(m, "out_features", getattr(m, "out_channels", None)) == IMAGENET_CLASSES]
    else:
        kwargs = dict(builder_kwargs)
        weights = None
        if pretrained:
            weights = weights_enum(builder_variant)
            if weights is None:
                raise HootError(f"'{builder_name}' has no pretrained weights in torchvision; pass --no-pretrained")
        if num_classes is not None:
            kwargs["num_classes"] = num_classes
        # no backbone download: the backbone starts from scratch unless full weights are given
        model = builder(weights=None, weights_backbone=None, **kwargs)
        head = [] if weights is None else load_except_head(model, load_weights_state_dict(weights))
    model.hoot_variant = name
    model.hoot_task = task
    model.hoot_head_names = head
    return model


def count_params(model: nn.Module) -> int:
    """Number of parameters (what torchvision's `num_params` metadata counts)."""
    return sum(p.numel() for p in model.parameters())
