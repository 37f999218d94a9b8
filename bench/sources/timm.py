"""timm as a model source: `timm.create_model`, its pretrained configs and the Hugging Face hub cache.

Facts come from the installed timm (offline): the default pretrained config gives the weight
tag, input size, crop fraction and licence; parameters are counted on a model built without
weights, and GMACs by hoot's own FLOP counter (bench.flops) at the native size. Top-1/top-5
are timm's published ImageNet table (results/results-imagenet.csv of timm's repository, kept
under tools/data/ with its source), read where that copy is present. Pretrained weights load
through timm's own loader from the hub cache's file, so head resizing and key remapping are timm's.
"""

from __future__ import annotations

import csv
import math
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hoot.advisor.errors import HootError
from hoot.bench.sources.base import BuiltModel, ModelSource, WeightsFile
from hoot.bench.sources.hub import hub_weights_file

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from hoot.advisor.catalog import Catalog, Variant

#: timm's published ImageNet-1K validation table, as the repository keeps it (tools/data/README.md)
RESULTS_TABLE = Path(__file__).resolve().parents[2] / "tools" / "data" / "timm_results_imagenet.csv"
WEIGHTS_FILENAME = "model.safetensors"


class TimmSource(ModelSource):
    package = "timm"

    def builders(self) -> dict[str, str]:
        """timm's architectures that have pretrained weights (all classifiers)."""
        import timm

        return {name: "classification" for name in timm.list_models()}

    def facts(self, name: str, kind: str | None = None) -> dict[str, Any]:
        cfg = pretrained_cfg(name)
        crop = int(cfg["input_size"][-1])
        facts: dict[str, Any] = {
            "kind": "classification",
            "weights": cfg["hf_hub_id"],
            "weights_dataset": "ImageNet-1K" if cfg.get("num_classes") == 1000 else None,
            "params": _params(name),
            "gmacs": _gmacs(name, crop),
            "crop_size": crop,
            "resize_size": math.floor(crop / cfg["crop_pct"]),
            "metrics": {},
            "weights_file_mb": None,
            "weights_file": cfg.get("hf_hub_filename") or WEIGHTS_FILENAME,
            "weights_license": cfg.get("license"),
        }
        row = published_row(cfg["hf_hub_id"].split("/", 1)[-1], crop)
        if row is not None:
            facts.update(top1=row["top1"], top5=row["top5"])
        return facts

    def weights_file(self, variant: "Variant") -> WeightsFile | None:
        if not variant.weights:
            return None
        return hub_weights_file(variant.weights, variant.weights_file or WEIGHTS_FILENAME)

    def build(self, variant: "Variant", builder_name: str, task: str, num_classes: int | None,
              pretrained: bool, catalog: "Catalog", image_size: int | None = None,
              **builder_kwargs: Any) -> BuiltModel:
        import timm

        kwargs = dict(builder_kwargs)
        if num_classes is not None:
            kwargs["num_classes"] = num_classes
        if pretrained:
            # timm's own loader reads the cached file: its key filters and head handling apply
            path = self.cached_weights(variant)
            tag = (variant.weights or "").split(".", 1)[-1]
            kwargs.update(pretrained=True, pretrained_cfg_overlay={"file": str(path)})
            builder_name = f"{builder_name}.{tag}" if tag and "." not in builder_name else builder_name
        try:
            model = timm.create_model(builder_name, **kwargs)
        except RuntimeError as exc:  # missing/unexpected keys: a foreign file
            raise HootError(f"timm cannot load the weights of '{variant.name}' ({str(exc).splitlines()[0][:200]}); "
                            "delete the file and download it again, or pass --no-pretrained") from None
        names = model.pretrained_cfg.get("classifier") or ()
        names = [names] if isinstance(names, str) else list(names)
        present = {n for n, _ in model.named_modules()}
        return BuiltModel(model, [n for n in names if n in present])

    def for_inference(self, model: "nn.Module", inplace: bool = False) -> "nn.Module":
        return folded(model, inplace)

    def folds(self, model: "nn.Module") -> bool:
        return folds(model)


#: the methods timm's modules fold themselves with (timm.models._manipulate.reparameterize_model)
FOLDING_METHODS = ("fuse", "reparameterize", "switch_to_deploy")


def folds(model: "nn.Module") -> bool:
    """Whether any of `model`'s modules folds itself for inference (what `reparameterize_model` calls)."""
    return any(hasattr(m, name) for m in model.modules() for name in FOLDING_METHODS)


def folded(model: "nn.Module", inplace: bool = False) -> "nn.Module":
    """`model` with timm's train-time branches folded by timm's own `reparameterize_model`;
    `model` itself where no module folds (no copy for the many that have nothing to fold)."""
    if not folds(model):
        return model
    from timm.utils.model import reparameterize_model

    return reparameterize_model(model, inplace=inplace)


@lru_cache(maxsize=None)
def pretrained_cfg(name: str) -> dict[str, Any]:
    """timm's default pretrained config of architecture `name` (offline: it ships in timm)."""
    import timm

    cfg = timm.models.get_pretrained_cfg(name)
    if cfg is None:
        raise HootError(f"timm {timm.__version__} has no pretrained config for '{name}'")
    return cfg.to_dict()


@lru_cache(maxsize=None)
def _params(name: str) -> int:
    import timm
    import torch

    with torch.device("meta"):
        model = timm.create_model(name, pretrained=False)
    return int(sum(p.numel() for p in model.parameters()))


@lru_cache(maxsize=None)
def _gmacs(name: str, size: int) -> float:
    """GMACs at `size` px by hoot's FLOP counter (on the meta device where the model allows it)."""
    import timm
    import torch

    from hoot.bench.flops import count_flops, gmacs_on_meta

    gmacs = gmacs_on_meta(lambda: timm.create_model(name, pretrained=False),
                          lambda dev: torch.zeros(1, 3, size, size, device=dev))
    if gmacs is None:
        model = timm.create_model(name, pretrained=False).eval()
        gmacs = count_flops(model, torch.zeros(1, 3, size, size)) / 2e9
    return round(gmacs, 4)


@lru_cache(maxsize=2)
def published_table(path: str = str(RESULTS_TABLE)) -> dict[tuple[str, int], dict[str, float]]:
    """(model.tag, eval size) -> {top1, top5, param_count_m, crop_pct} from timm's results table ({} if absent)."""
    if not Path(path).is_file():
        return {}
    out: dict[tuple[str, int], dict[str, float]] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            out[(row["model"], int(row["img_size"]))] = {
                "top1": float(row["top1"]), "top5": float(row["top5"]),
                "param_count_m": float(row["param_count"].replace(",", "")), "crop_pct": float(row["crop_pct"])}
    return out


def published_row(model_tag: str, size: int) -> dict[str, float] | None:
    """timm's published figures for weights `model_tag` evaluated at `size` px (None: not in the table)."""
    return published_table().get((model_tag, size))
