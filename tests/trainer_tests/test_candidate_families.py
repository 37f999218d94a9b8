"""The default bake-off candidates span families (issue 21: they were efficientnet_b3, b1, b0 and b2)."""

from __future__ import annotations

from hoot.advisor.catalog import load_catalog
from hoot.trainer.orchestration.candidates import advised_candidates, spread_families


def test_best_of_each_family_first_then_the_next_best() -> None:
    ranked = [("efficientnet_b3", "EfficientNet"), ("efficientnet_b1", "EfficientNet"), ("resnet50", "ResNet"),
              ("efficientnet_b0", "EfficientNet"), ("convnext_tiny", "ConvNeXt")]
    assert spread_families(ranked, 3) == ["efficientnet_b3", "resnet50", "convnext_tiny"]
    assert spread_families(ranked, 4) == ["efficientnet_b3", "efficientnet_b1", "resnet50", "convnext_tiny"]
    assert spread_families(ranked[:2], 4) == ["efficientnet_b3", "efficientnet_b1"]


def test_the_advisor_default_candidates_are_of_several_families() -> None:
    names, reasons = advised_candidates("classification", 4, 2000, 224.0, {})
    families = {load_catalog().get(n).family for n in names}
    assert len(names) == 4 == len(reasons) and len(families) >= 3, names
