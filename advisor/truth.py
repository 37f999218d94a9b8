"""Hold the catalog's facts to what each entry's source package says (offline: the packages ship it).

A source (hoot.bench.sources: torchvision, timm, segmentation-models-pytorch) answers two
questions: which builders it has, and the fact fields of one of them. `check_catalog` holds
an existing catalog to those answers and `tools/regen_catalog.py` writes them, so the two can
never disagree about what a fact is. This module imports no package: the sources are passed in.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Mapping, Protocol

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

#: The catalog fields that are facts (the source's metadata); everything else is judgement.
FACT_FIELDS: tuple[str, ...] = (
    "kind", "weights", "weights_dataset", "params", "gmacs", "crop_size", "resize_size",
    "top1", "top5", "metrics", "weights_file_mb", "weights_file", "weights_license",
)

#: relative tolerance for GMACs (torchvision rounds `_ops` to 3 decimals)
GMACS_REL_TOL = 0.005
#: absolute tolerance for percentages and file sizes as written in the YAML
FIGURE_ABS_TOL = 1e-6


class FactSource(Protocol):
    """What the check needs of a model source (hoot.bench.sources.ModelSource implements it)."""

    package: str

    def builders(self) -> dict[str, str]: ...

    def facts(self, name: str, kind: str | None = None) -> dict[str, Any]: ...


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


def check_variant(variant: "Variant", source: FactSource, builders: dict[str, str]) -> list[str]:
    """Problems of one provided entry against its source (empty list: it matches).

    Only the fields the source states are compared (timm's published top-1 is read where the
    repository's copy of timm's table is present)."""
    if variant.name not in builders:
        return [f"{variant.name}: {source.package} has no builder '{variant.name}'; "
                "set provided: false or fix the name"]
    facts = source.facts(variant.name, builders[variant.name])
    problems = []
    for field in FACT_FIELDS:
        if field not in facts:
            continue
        have, want = getattr(variant, field), facts[field]
        if _differs(field, have, want):
            tol = f" (tolerance {GMACS_REL_TOL:.1%})" if field == "gmacs" else ""
            problems.append(f"{variant.name}: {field} is {have!r}, {source.package} says {want!r}{tol}")
    return problems


def check_catalog(catalog: "Catalog", sources: Mapping[str, FactSource]) -> list[str]:
    """Every problem of `catalog` against its sources, one line each (empty: all good).

    Checks facts of every provided entry (params exactly, GMACs within 0.5%, sizes, metrics,
    weights name, file, size and licence), that task builders name a catalog entry or a
    builder of the entry's source, and that the 28 seeds/000 variants are present and flagged.
    Only sources that some entry uses are asked (each package is imported only then).
    """
    builders: dict[str, dict[str, str]] = {}

    def builders_of(name: str) -> dict[str, str]:
        if name not in builders:
            builders[name] = sources[name].builders()
        return builders[name]

    names = set(catalog.names())
    problems: list[str] = []
    for variant in catalog:
        source = sources[variant.source]
        own = builders_of(variant.source)
        if variant.provided:
            problems.extend(check_variant(variant, source, own))
        elif variant.name in own:
            problems.append(f"{variant.name}: provided is false, but {source.package} has this builder")
        for task, builder in variant.task_builders.items():
            if builder is None:
                continue
            if builder not in names and builder not in own:
                problems.append(f"{variant.name}: task_builders.{task} names '{builder}', "
                                f"which is neither a catalog entry nor a {source.package} builder")
            elif variant.provided and builder not in own:
                problems.append(f"{variant.name}: task_builders.{task} names '{builder}', "
                                f"which {source.package} does not provide")
    for name in SEED_VARIANT_NAMES:
        if name not in names:
            problems.append(f"{name}: missing; it is one of the 28 variants of seeds/000")
        elif not catalog.get(name).seed_variant:
            problems.append(f"{name}: seed_variant should be true (seeds/000 lists it)")
    for variant in catalog.seed_variants():
        if variant.name not in SEED_VARIANT_NAMES:
            problems.append(f"{variant.name}: seed_variant is true, but seeds/000 does not list it")
    return problems
