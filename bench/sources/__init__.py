"""Model sources: the packages hoot builds catalog entries from, each behind `ModelSource`.

`source_of(variant)` is the one place that maps an entry to its package (the catalog's
`source` field); everything else (build, weights cache, offline error, facts, version)
goes through the returned source.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from hoot.advisor.errors import HootError
from hoot.bench.sources.base import IMAGENET_CLASSES, BuiltModel, ModelSource, WeightsFile

if TYPE_CHECKING:  # pragma: no cover
    from hoot.advisor.catalog import Variant

__all__ = ["IMAGENET_CLASSES", "BuiltModel", "ModelSource", "WeightsFile", "all_sources", "source_named", "source_of"]


@lru_cache(maxsize=None)
def all_sources() -> dict[str, ModelSource]:
    """catalog `source` value -> the source object (cheap: no package is imported here)."""
    from hoot.bench.sources.smp import SmpSource
    from hoot.bench.sources.timm import TimmSource
    from hoot.bench.sources.torchvision import TorchvisionSource

    return {"torchvision": TorchvisionSource(), "timm": TimmSource(), "smp": SmpSource()}


def source_named(name: str) -> ModelSource:
    try:
        return all_sources()[name]
    except KeyError:
        raise HootError(f"unknown model source '{name}'; known: {', '.join(all_sources())}") from None


def source_of(variant: "Variant") -> ModelSource:
    """The source that builds `variant`."""
    return source_named(variant.source)


def input_multiple(variant: "Variant", task: str) -> int:
    """The multiple an input side of `variant` built for `task` must be (1: any size; smp: 32).
    No package is imported: bench's planning process stays free of torch."""
    return source_of(variant).input_multiple(variant.builder_for(task) or variant.name)
