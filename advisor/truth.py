"""Hold the catalog's facts to torchvision's weights metadata (offline: it ships in torchvision).

`torchvision_facts(name)` reads what torchvision says about a builder's default weights;
`tools/regen_catalog.py` writes those facts into catalog.yaml and `check_catalog` holds an
existing catalog to them, so the two can never disagree about what a fact is.

torchvision is imported inside the functions only: `advisor` must import without torch.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from hoot.advisor.catalog import Catalog, Variant

#: The 28 variants of seeds/000_46be6743a230da89.txt: the catalog's floor.
SEED_VARIANT_NAMES: tuple[str, ...] = (
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d",
    "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large",
    "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0",
    "squeezenet1_0", "squeezenet1_1",
    "efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3",
    "efficientnet_b4", "efficientnet_b5", "efficientnet_b6", "efficientnet_b7",
    "efficientnet_v2_s", "efficientnet_v2_m", "efficientnet_v2_l",
)

#: The catalog fields that are facts (torchvision's metadata); everything else is judgement.
FACT_FIELDS: tuple[str, ...] = (
    "kind", "weights", "weights_dataset", "params", "gmacs", "crop_size", "resize_size",
    "top1", "top5", "metrics", "weights_file_mb", "weights_file",
)

#: relative tolerance for GMACs (torchvision rounds `_ops` to 3 decimals)
GMACS_REL_TOL = 0.005
#: absolute tolerance for percentages and file sizes as written in the YAML
FIGURE_ABS_TOL = 1e-6

_METRIC_KEYS = {"acc@1": "top1", "acc@5": "top5"}


def torchvision_modules() -> dict[str, Any]:
    """kind -> torchvision module whose builders hoot catalogs (no quantized/video/optical flow)."""
    import torchvision.models as tvm

    return {"classification": tvm, "detection": tvm.detection, "segmentation": tvm.segmentation}


def torchvision_builders() -> dict[str, str]:
    """Every builder name hoot can catalog -> its kind."""
    from torchvision.models import list_models

    out: dict[str, str] = {}
    for kind, module in torchvision_modules().items():
        for name in list_models(module=module):
            out[name] = kind
    return out


def torchvision_version() -> str:
    import torchvision

    return torchvision.__version__.split("+")[0]


def torchvision_facts(name: str, kind: str | None = None) -> dict[str, Any]:
    """The fact fields of `name` from its DEFAULT weights' metadata, as catalog.yaml spells them.

    torchvision's `_ops` ("GFLOPS" in its docs) counts multiply-adds, so it becomes `gmacs`.
    """
    from torchvision.models import get_model_weights

    if kind is None:
        kind = torchvision_builders()[name]
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
    }


def _size(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        value = value[0]
    return int(value)


def _differs(field: str, have: Any, want: Any) -> bool:
    if have is None or want is None:
        return have is not want
    if field == "gmacs":
        return not math.isclose(have, want, rel_tol=GMACS_REL_TOL)
    if isinstance(want, float):
        return not math.isclose(float(have), want, rel_tol=0, abs_tol=FIGURE_ABS_TOL)
    if isinstance(want, dict):
        if set(have) != set(want):
            return True
        return any(_differs(k, have[k], want[k]) for k in want)
    return have != want


def check_variant(variant: "Variant", builders: dict[str, str]) -> list[str]:
    """Problems of one provided entry against torchvision (empty list: it matches)."""
    if variant.name not in builders:
        return [f"{variant.name}: torchvision has no builder '{variant.name}'; "
                "set provided: false or fix the name"]
    facts = torchvision_facts(variant.name, builders[variant.name])
    problems = []
    for field in FACT_FIELDS:
        have, want = getattr(variant, field), facts[field]
        if _differs(field, have, want):
            tol = f" (tolerance {GMACS_REL_TOL:.1%})" if field == "gmacs" else ""
            problems.append(f"{variant.name}: {field} is {have!r}, torchvision says {want!r}{tol}")
    return problems


def check_catalog(catalog: "Catalog") -> list[str]:
    """Every problem of `catalog` against torchvision's metadata, one line each (empty: all good).

    Checks facts of every provided entry (params exactly, GMACs within 0.5%, sizes, metrics,
    weights name, file and size), that task builders name a catalog entry or a torchvision
    builder, and that the 28 seeds/000 variants are present and flagged.
    """
    builders = torchvision_builders()
    names = set(catalog.names())
    problems: list[str] = []
    for variant in catalog:
        if variant.provided:
            problems.extend(check_variant(variant, builders))
        elif variant.name in builders:
            problems.append(f"{variant.name}: provided is false, but torchvision has this builder")
        for task, builder in variant.task_builders.items():
            if builder is None:
                continue
            if builder not in names and builder not in builders:
                problems.append(f"{variant.name}: task_builders.{task} names '{builder}', "
                                "which is neither a catalog entry nor a torchvision builder")
            elif variant.provided and builder not in builders:
                problems.append(f"{variant.name}: task_builders.{task} names '{builder}', "
                                "which torchvision does not provide")
    for name in SEED_VARIANT_NAMES:
        if name not in names:
            problems.append(f"{name}: missing; it is one of the 28 variants of seeds/000")
        elif not catalog.get(name).seed_variant:
            problems.append(f"{name}: seed_variant should be true (seeds/000 lists it)")
    for variant in catalog.seed_variants():
        if variant.name not in SEED_VARIANT_NAMES:
            problems.append(f"{variant.name}: seed_variant is true, but seeds/000 does not list it")
    return problems
