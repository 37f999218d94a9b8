"""torchvision as a model source: its builders, weights enums and hub cache (TORCH_HOME).

Facts are torchvision's weights metadata for a builder's DEFAULT weights (`_ops`, its
"GFLOPS", counts multiply-adds, so it becomes `gmacs`). Classifier heads are resized by
finding the 1000-way layers, so no per-family table is needed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from hoot.advisor.errors import HootError
from hoot.bench.sources.base import IMAGENET_CLASSES, BuiltModel, ModelSource, WeightsFile, read_state_dict, load_except_head

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from hoot.advisor.catalog import Catalog, Variant


class TorchvisionSource(ModelSource):
    package = "torchvision"

    def builders(self) -> dict[str, str]:
        """Every classification, detection and segmentation builder (no quantized/video/optical flow)."""
        import torchvision.models as tvm

        out: dict[str, str] = {}
        for kind, module in {"classification": tvm, "detection": tvm.detection,
                             "segmentation": tvm.segmentation}.items():
            for name in tvm.list_models(module=module):
                out[name] = kind
        return out

    def facts(self, name: str, kind: str | None = None) -> dict[str, Any]:
        from torchvision.models import get_model_weights

        if kind is None:
            kind = self.builders()[name]
        weights = get_model_weights(name).DEFAULT
        meta = weights.meta
        (dataset, figures), = meta["_metrics"].items()
        top1 = top5 = None
        metrics: dict[str, float] = {}
        for key, value in figures.items():
            if key == "acc@1":
                top1 = float(value)
            elif key == "acc@5":
                top5 = float(value)
            else:
                metrics[key] = float(value)
        keywords = getattr(weights.transforms, "keywords", {}) or {}
        return {
            "kind": kind,
            "weights": f"{type(weights).__name__}.{weights.name}",
            "weights_dataset": dataset,
            "params": int(meta["num_params"]),
            "gmacs": float(meta["_ops"]),
            "crop_size": _size(keywords.get("crop_size")),
            "resize_size": _size(keywords.get("resize_size")),
            "top1": top1,
            "top5": top5,
            "metrics": metrics,
            "weights_file_mb": float(meta["_file_size"]),
            "weights_file": weights.url.rsplit("/", 1)[-1],
            "weights_license": None,
        }

    def weights_file(self, variant: "Variant") -> WeightsFile | None:
        """torchvision's cache: <torch.hub.get_dir()>/checkpoints/<file name of the weights URL>."""
        import torch
        import torchvision

        if not variant.weights:
            return None
        weights = torchvision.models.get_weight(variant.weights)
        path = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(weights.url).path)

        def fetch() -> Path:
            weights.get_state_dict(progress=False, check_hash=True)
            return path

        return WeightsFile(path=path, url=weights.url, cache="torchvision's cache", place=f"{path.parent}/",
                           fetch=fetch)

    def build(self, variant: "Variant", builder_name: str, task: str, num_classes: int | None,
              pretrained: bool, catalog: "Catalog", image_size: int | None = None,
              **builder_kwargs: Any) -> BuiltModel:
        import torchvision

        try:
            builder = torchvision.models.get_model_builder(builder_name)
        except ValueError:
            raise HootError(f"torchvision {torchvision.__version__} has no model '{builder_name}'; "
                            "upgrade torchvision or edit the catalog") from None
        # the entry whose weights fit this builder (resnet50's detection builder has its own entry)
        weights_variant = variant if builder_name == variant.name else catalog.get(builder_name)
        if task in ("classification", "multilabel"):
            if builder_name.startswith("vit_") and "image_size" not in builder_kwargs and (pretrained or image_size):
                # a ViT's position embeddings fix its input size: build it for the size it runs at (vit_h_14's
                # weights are at 518 px; torchvision's default of 224 refused every native-size measurement)
                builder_kwargs["image_size"] = weights_variant.native_input_px if pretrained else image_size
            model = builder(weights=None, **builder_kwargs)
            if pretrained:
                model.load_state_dict(read_state_dict(self.cached_weights(weights_variant)))
            if num_classes is not None and num_classes != IMAGENET_CLASSES:
                return BuiltModel(model, _replace_classifier(model, num_classes))
            return BuiltModel(model, _layers_of_width(model, IMAGENET_CLASSES))
        kwargs = dict(builder_kwargs)
        path = None
        if pretrained:
            path = self.cached_weights(weights_variant)
        if num_classes is not None:
            kwargs["num_classes"] = num_classes
        # no backbone download: the backbone starts from scratch unless full weights are given
        model = builder(weights=None, weights_backbone=None, **kwargs)
        # COCO/VOC weights at another class count: all but the class-count-shaped head, which starts fresh
        return BuiltModel(model, [] if path is None else load_except_head(model, read_state_dict(path)))


def _size(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        value = value[0]
    return int(value)


def _layers_of_width(model: "nn.Module", width: int) -> list[str]:
    from torch import nn

    return [n for n, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))
            and getattr(m, "out_features", getattr(m, "out_channels", None)) == width]


def _replace_classifier(model: "nn.Module", num_classes: int, old_classes: int = IMAGENET_CLASSES) -> list[str]:
    """Swap every `old_classes`-way output layer (main and auxiliary heads) for a `num_classes` one.

    Works across torchvision's classifiers without a per-family table: the heads are the
    Linear (or SqueezeNet's 1x1 Conv2d) layers whose output width is the class count.
    Returns the qualified names of the replaced modules (the "head" for freezing).
    """
    from torch import nn

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
