"""segmentation-models-pytorch as a model source: a decoder on an encoder, named `<arch>_<encoder>`.

An entry's name says what smp builds: `unet_resnet34` is `smp.create_model("unet",
encoder_name="resnet34")`, `deeplabv3plus_resnet50` is DeepLabV3+ on ResNet-50. smp ships no
trained segmentation heads, only ImageNet encoder weights, which live in the Hugging Face hub
cache at the revision smp pins; pretrained loads them into the encoder and the decoder starts
from scratch. The head is `classes=num_classes` (logits N, C, H, W); the catalog's facts are at
21 classes (Pascal VOC's label set, as torchvision's segmentation entries) and 512 px (smp's
encoders need sides that are multiples of 32; 512 is the one nearest torchvision's 520).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from hoot.advisor.errors import HootError
from hoot.bench.sources.base import BuiltModel, ModelSource, WeightsFile, read_state_dict
from hoot.bench.sources.hub import hub_weights_file

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from hoot.advisor.catalog import Catalog, Variant

#: entry-name prefix -> smp architecture (smp.create_model's `arch`)
ARCHITECTURES = {"unet": "unet", "deeplabv3plus": "deeplabv3plus", "upernet": "upernet"}
#: the encoders hoot catalogs (the documents name ResNet encoders)
ENCODERS = ("resnet34", "resnet50")
#: the class count and input size the catalog's facts are stated at
CATALOG_CLASSES = 21
CATALOG_INPUT_PX = 512
ENCODER_WEIGHTS = "imagenet"
ENCODER_DEPTH = 5  # smp's default encoder_depth
WEIGHTS_FILENAME = "model.safetensors"


def split_name(name: str) -> tuple[str, str]:
    """'unet_resnet34' -> ('unet', 'resnet34'); a HootError for a name smp cannot build."""
    arch, _, encoder = name.partition("_")
    if arch not in ARCHITECTURES or not encoder:
        raise HootError(f"'{name}' is not an smp model hoot knows (<{'|'.join(ARCHITECTURES)}>_<encoder>)")
    return ARCHITECTURES[arch], encoder


class SmpSource(ModelSource):
    package = "segmentation-models-pytorch"

    def builders(self) -> dict[str, str]:
        return {f"{prefix}_{enc}": "segmentation" for prefix in ARCHITECTURES for enc in ENCODERS}

    def facts(self, name: str, kind: str | None = None) -> dict[str, Any]:
        return dict(_facts(name))

    def input_multiple(self, builder_name: str) -> int:
        """smp's encoders halve the input ENCODER_DEPTH times and its decoders add the skips back: a
        side that is not a multiple of 2**depth is refused at the first forward."""
        return 2 ** ENCODER_DEPTH

    def weights_file(self, variant: "Variant") -> WeightsFile | None:
        _, encoder = split_name(variant.name)
        settings = _encoder_settings(encoder)
        return hub_weights_file(settings["repo_id"], WEIGHTS_FILENAME, settings["revision"])

    def build(self, variant: "Variant", builder_name: str, task: str, num_classes: int | None,
              pretrained: bool, catalog: "Catalog", image_size: int | None = None,
              **builder_kwargs: Any) -> BuiltModel:
        arch, encoder = split_name(builder_name)
        model = self._create(arch, encoder, num_classes or CATALOG_CLASSES, **builder_kwargs)
        if pretrained:
            state = read_state_dict(self.cached_weights(variant))
            try:
                model.encoder.load_state_dict(state)
            except RuntimeError as exc:
                raise HootError(f"the encoder weights of '{variant.name}' do not fit smp's {encoder} "
                                f"({str(exc).splitlines()[0][:200]}); delete the file and download it again") from None
        # everything but the encoder starts fresh (smp ships encoder weights only): decoder and head
        return BuiltModel(model, [n for n, _ in model.named_children() if n != "encoder"])

    def for_inference(self, model: "nn.Module", inplace: bool = False) -> "nn.Module":
        """smp's `tu-` encoders are timm models: their branches fold the way timm folds them."""
        from hoot.bench.sources.timm import folded

        return folded(model, inplace)

    def folds(self, model: "nn.Module") -> bool:
        from hoot.bench.sources.timm import folds

        return folds(model)

    @staticmethod
    def _create(arch: str, encoder: str, classes: int, **kwargs: Any) -> Any:
        import segmentation_models_pytorch as smp

        return smp.create_model(arch, encoder_name=encoder, encoder_weights=None, classes=classes, **kwargs)


@lru_cache(maxsize=None)
def _facts(name: str) -> dict[str, Any]:
    """The fact fields of `name` at the catalog's class count and size (counted on the meta device)."""
    import torch

    from hoot.bench.flops import count_flops

    arch, encoder = split_name(name)
    settings = _encoder_settings(encoder)
    with torch.device("meta"):
        model = SmpSource._create(arch, encoder, CATALOG_CLASSES).eval()
    gmacs = count_flops(model, torch.zeros(1, 3, CATALOG_INPUT_PX, CATALOG_INPUT_PX, device="meta")) / 2e9
    return {
        "kind": "segmentation",
        "weights": settings["repo_id"],
        "weights_dataset": "ImageNet-1K (encoder only)",
        "params": int(sum(p.numel() for p in model.parameters())),
        "gmacs": round(gmacs, 4),
        "crop_size": CATALOG_INPUT_PX,
        "resize_size": None,
        "top1": None,
        "top5": None,
        "metrics": {},
        "weights_file_mb": None,
        "weights_file": WEIGHTS_FILENAME,
        "weights_license": None,
    }


def _encoder_settings(encoder: str) -> dict[str, str]:
    """smp's pinned hub repository and revision of `encoder`'s ImageNet weights."""
    from segmentation_models_pytorch.encoders import encoders

    try:
        return encoders[encoder]["pretrained_settings"][ENCODER_WEIGHTS]
    except KeyError:
        raise HootError(f"smp has no '{ENCODER_WEIGHTS}' weights for encoder '{encoder}'") from None
