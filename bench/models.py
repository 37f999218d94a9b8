"""The one place that builds a model from a catalog name (task head, classes, weights).

Every command (bench, shortlist, export, optimize, predict) builds through `build_model`, so a
variant means the same network everywhere. The entry's source (hoot.bench.sources:
torchvision, timm, segmentation-models-pytorch) builds it and loads pretrained weights from
its package's own cache; offline, a missing file is a one-line HootError that names the file
and where to put it, never a hang. The built module carries its package and version, which
every bench row and run records.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from hoot.advisor.catalog import Catalog, Variant, load_catalog
from hoot.advisor.errors import HootError
from hoot.bench.sources import all_sources, source_of
from hoot.bench.sources.base import load_except_head  # noqa: F401 - the detection task's weights loading


def build_model(
    name: str,
    task: str = "classification",
    num_classes: int | None = None,
    pretrained: bool = False,
    catalog: Catalog | None = None,
    image_size: int | None = None,
    **builder_kwargs: Any,
) -> nn.Module:
    """Build catalog variant `name` for `task`, with `num_classes` outputs, optionally pretrained.

    - classification / multilabel: the source's classifier, head resized to `num_classes`
      (pretrained weights are loaded first, so the backbone keeps them).
    - detection / segmentation: the builder the catalog names for the task with `num_classes`
      outputs (torchvision: COCO/VOC weights load into everything but the class-count-shaped head,
      which starts fresh; smp: ImageNet encoder weights, any class count).
    `image_size`: the input size it will run at, for models whose layers depend on it (ViT; None:
    the source's default; pretrained weights always fix it to theirs).
    The module gets `hoot_variant`, `hoot_task`, `hoot_head_names`, `hoot_source` (package)
    and `hoot_source_version` attributes.
    """
    cat = catalog or load_catalog()
    variant = cat.get(name)
    if not variant.provided:
        raise HootError(f"'{name}' is listed for reference but no package hoot builds from provides it "
                        "(`hoot catalog show` says why); pick a provided variant")
    builder_name = variant.builder_for(task)
    if not builder_name:
        supported = [t for t, b in variant.task_builders.items() if b]
        raise HootError(f"'{name}' does not support task '{task}'; it supports: {', '.join(supported) or 'none'}")
    source = source_of(variant)
    built = source.build(variant, builder_name, task, num_classes, pretrained, cat, image_size=image_size,
                         **builder_kwargs)
    model = built.model
    model.hoot_variant = name
    model.hoot_task = task
    model.hoot_head_names = built.head_names
    model.hoot_source = source.package
    model.hoot_source_version = source.version()
    return model


def deployable(model: nn.Module, inplace: bool = False) -> nn.Module:
    """`model` in the form it ships: its source folds train-time branches (ModelSource.for_inference).
    Every inference measurement and every exported file starts here. A model hoot did not build
    (a custom bench --builder) is taken as it is."""
    source = _source_of_model(model)
    return source.for_inference(model, inplace) if source is not None else model


def deploy_form(model: nn.Module) -> str:
    """What `deployable` does to `model`: "folded" (its source folds train-time branches) or "as_built"
    (schema.DEPLOY_FORMS); asked before folding in place, since a folded model may still answer."""
    source = _source_of_model(model)
    return "folded" if source is not None and source.folds(model) else "as_built"


def _source_of_model(model: nn.Module):
    """The ModelSource that built `model` (its `hoot_source` package), or None for one hoot did not build."""
    package = next((m.hoot_source for m in model.modules() if hasattr(m, "hoot_source")), None)
    return next((s for s in all_sources().values() if s.package == package), None)


def require_cached_weights(names: list[str], catalog: Catalog | None = None) -> None:
    """Fail before any work when a pretrained weights file of `names` is missing offline."""
    cat = catalog or load_catalog()
    for name in names:
        variant: Variant = cat.get(name)
        source_of(variant).cached_weights(variant)


def count_params(model: nn.Module) -> int:
    """Number of parameters (what torchvision's `num_params` metadata counts)."""
    return sum(p.numel() for p in model.parameters())
