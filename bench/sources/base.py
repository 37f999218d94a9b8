"""The model-source interface: what hoot needs from a package that builds catalog entries.

A source (torchvision, timm, segmentation-models-pytorch) builds an entry with or without
weights and with a head for the user's classes, knows where its package's own cache keeps a
weights file, reads its facts for the catalog, and names its package and version for every
bench row and run. The offline check lives here once: a missing file is one HootError that
names the file and where to put it, never a download attempt behind the user's back.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from hoot.advisor.errors import HootError

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from hoot.advisor.catalog import Catalog, Variant

#: ImageNet-1K classifiers end in a 1000-way layer
IMAGENET_CLASSES = 1000


@dataclass(frozen=True)
class WeightsFile:
    """One pretrained weights file as its package's cache keeps it."""

    path: Path  # where the cache keeps (or would keep) it
    url: str  # where to download it from
    cache: str  # the cache in words: "torchvision's cache", "the Hugging Face hub cache"
    place: str  # how to put it there, for the offline error
    fetch: Callable[[], Path]  # download it into the cache (only with HOOT_ALLOW_DOWNLOAD=1)


@dataclass(frozen=True)
class BuiltModel:
    """A built network and the qualified names of its classifier head (what `frozen` trains)."""

    model: "nn.Module"
    head_names: list[str]


def downloads_allowed() -> bool:
    """HOOT_ALLOW_DOWNLOAD=1 lets a package fetch a missing weights file; by default hoot is offline."""
    return os.environ.get("HOOT_ALLOW_DOWNLOAD", "0") not in ("", "0")


class ModelSource(ABC):
    """One package hoot builds models from. Nothing outside the sources asks which one an entry uses."""

    #: the distribution name (pip install NAME), recorded with every bench row and run
    package: str = ""

    def version(self) -> str:
        """The installed version of the package (from its distribution metadata: no import)."""
        return metadata.version(self.package).split("+")[0]

    def label(self) -> str:
        return f"{self.package} {self.version()}"

    @abstractmethod
    def builders(self) -> dict[str, str]:
        """Every builder name this source can build for the catalog -> its kind."""

    @abstractmethod
    def facts(self, name: str, kind: str | None = None) -> dict[str, Any]:
        """The catalog's fact fields of builder `name`, read from the installed package (offline)."""

    @abstractmethod
    def weights_file(self, variant: "Variant") -> WeightsFile | None:
        """The entry's default weights file (None: the package has no weights for it)."""

    @abstractmethod
    def build(self, variant: "Variant", builder_name: str, task: str, num_classes: int | None,
              pretrained: bool, catalog: "Catalog", image_size: int | None = None,
              **builder_kwargs: Any) -> BuiltModel:
        """The network for `task` with `num_classes` outputs, pretrained weights loaded from the cache.
        `image_size`: the input size it will run at, for the models whose layers depend on it (ViT)."""

    def input_multiple(self, builder_name: str) -> int:
        """Input sides must be a multiple of this (1: any size the model's layers take)."""
        return 1

    def for_inference(self, model: "nn.Module", inplace: bool = False) -> "nn.Module":
        """The network in the form it ships. Some architectures train with branches that fold into
        one convolution for inference (MobileOne, RepViT, FastViT: RepVGG-style re-parameterisation;
        the conv+BN pairs of LeViT and EfficientViT-M). Timing or exporting the training form measures
        a slower network than the one deployed. The outputs are the same. Default: the model as built.
        `inplace=False` leaves `model` trainable and returns a folded copy where anything folds."""
        return model

    def folds(self, model: "nn.Module") -> bool:
        """Whether `for_inference` changes `model` (a bench row records which form it timed)."""
        return False

    def cached_weights(self, variant: "Variant") -> Path:
        """The entry's weights file in the package's cache, or one HootError naming it and where to put it.

        The one offline check: `hoot shortlist` asks it before decoding any image, and every
        pretrained build reads through it.
        """
        wf = self.weights_file(variant)
        if wf is None:
            raise HootError(f"'{variant.name}' has no pretrained weights in {self.package}; pass --no-pretrained")
        if wf.path.is_file():
            return wf.path
        if downloads_allowed():
            return wf.fetch()
        raise HootError(
            f"pretrained weights file '{wf.path.name}' for {variant.name} is not in {wf.cache}: download {wf.url} "
            f"into {wf.place} (or set HOOT_ALLOW_DOWNLOAD=1 with network access), or pass --no-pretrained")


def read_state_dict(path: Path) -> dict[str, Any]:
    """A weights file (.safetensors or a torch pickle) as a state dict; a broken file is a HootError."""
    import torch

    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a truncated or foreign file
        raise HootError(f"pretrained weights file '{path}' cannot be loaded ({type(exc).__name__}: {exc}); "
                        "delete it and download it again, or pass --no-pretrained") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    return state


def load_except_head(model: "nn.Module", state: dict) -> list[str]:
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
