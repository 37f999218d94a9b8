"""Catalog validation: every malformed catalog names the entry and the field, and the shipped one loads."""

from __future__ import annotations

import pytest

from hoot.advisor.catalog import TARGETS, load_catalog, parse_catalog
from hoot.advisor.errors import HootError
from hoot.advisor.truth import SEED_VARIANT_NAMES

from hoot.testing.catalogs import catalog_text


def _error(text: str) -> str:
    with pytest.raises(HootError) as info:
        parse_catalog(text, where="test.yaml")
    return info.value.message


def test_valid_entry_parses(valid_entry):
    cat = parse_catalog(catalog_text(valid_entry))
    v = cat.get("resnet18")
    assert v.params == 11689512 and v.gmacs == pytest.approx(1.814)
    assert v.flops_g == pytest.approx(3.628)
    assert v.supports("classification") and not v.supports("detection")


def test_malformed_yaml_names_line():
    msg = _error("schema_version: 1\nvariants:\n  - name: [unclosed\n")
    assert "test.yaml" in msg and "malformed YAML" in msg and "line" in msg


def test_unknown_field_names_entry_and_field(valid_entry):
    msg = _error(catalog_text(valid_entry + "  gflops_typo: 3.0\n"))
    assert "'resnet18'" in msg and "gflops_typo" in msg


def test_missing_field_names_entry_and_field(valid_entry):
    text = valid_entry.replace("  family: ResNet\n", "")
    msg = _error(catalog_text(text))
    assert "'resnet18'" in msg and "'family'" in msg and "missing" in msg


@pytest.mark.parametrize("old,new,field", [
    ("params: 11689512", "params: lots", "params"),
    ("gmacs: 1.814", "gmacs: '1.8'", "gmacs"),
    ("provided: true", "provided: 1", "provided"),
    ("params: 11689512", "params: true", "params"),
    ("targets: [cpu-server]", "targets: cpu-server", "targets"),
])
def test_wrong_type_names_entry_and_field(valid_entry, old, new, field):
    msg = _error(catalog_text(valid_entry.replace(old, new)))
    assert "'resnet18'" in msg and f"'{field}'" in msg


def test_duplicate_name(valid_entry):
    msg = _error(catalog_text(valid_entry, valid_entry))
    assert "'resnet18'" in msg and "duplicate" in msg


@pytest.mark.parametrize("old,new,field", [
    ("memory_tier: medium", "memory_tier: huge", "memory_tier"),
    ("speed_class: balanced", "speed_class: fast", "speed_class"),
    ("kind: classification", "kind: captioning", "kind"),
    ("targets: [cpu-server]", "targets: [phone]", "targets"),
    ("dataset_sizes: [medium, large]", "dataset_sizes: [tiny]", "dataset_sizes"),
])
def test_bad_enum_names_entry_field_and_choices(valid_entry, old, new, field):
    msg = _error(catalog_text(valid_entry.replace(old, new)))
    assert "'resnet18'" in msg and f"'{field}'" in msg and "expected one of" in msg


def test_bad_task_in_task_builders(valid_entry):
    msg = _error(catalog_text(valid_entry.replace("detection: null", "captioning: resnet18")))
    assert "'resnet18'" in msg and "task_builders" in msg and "captioning" in msg


def test_top1_out_of_range(valid_entry):
    msg = _error(catalog_text(valid_entry.replace("top1: 69.758", "top1: 697.58")))
    assert "'resnet18'" in msg and "'top1'" in msg


def test_wrong_schema_version(valid_entry):
    msg = _error(catalog_text(valid_entry).replace("schema_version: 1", "schema_version: 7"))
    assert "schema_version" in msg


def test_shipped_catalog_floor_and_shape():
    cat = load_catalog()
    names = cat.names()
    assert len(names) == len(set(names))
    assert sorted(v.name for v in cat.seed_variants()) == sorted(SEED_VARIANT_NAMES)
    kinds = {v.kind for v in cat.provided()}
    assert kinds == {"classification", "detection", "segmentation"}
    # the documents' judgement is present on every seed variant, and cited
    for v in cat.seed_variants():
        assert v.memory_tier and v.speed_class and v.dataset_sizes, v.name
        assert "000_46be6743a230da89.txt" in v.sources, v.name
        assert any(f.source == "000_46be6743a230da89.txt" for f in v.seed_figures), v.name
    # every target has recommendations, and models the documents name but torchvision lacks are listed
    for target in TARGETS:
        assert any(target in v.targets for v in cat.provided()), target
    missing = {v.name for v in cat if not v.provided}
    assert {"mcunet", "yolov8", "yolo_tiny", "detr_resnet50", "dino_detr", "bisenet", "pp_liteseg"} == missing
    # each keeps the reason no package hoot uses provides it (issue 19)
    assert all("Not provided" in cat.get(name).notes for name in missing)
    for v in cat:
        # rewritten (issue 11.8): a rule-derived entry no longer cites a seed file that never names it;
        # it carries its basis (hoot's rules) instead
        assert v.sources or v.basis, f"{v.name} cites no source and no basis"


def test_documents_judgement_encoded():
    """Spot checks against the documents' own words (seeds/000 memory tiers, use cases; seeds/004 table)."""
    cat = load_catalog()
    assert cat.get("resnet152").memory_tier == "very_high"
    assert cat.get("shufflenet_v2_x0_5").memory_tier == "low"
    assert cat.get("resnet50").builder_for("detection") == "fasterrcnn_resnet50_fpn"
    assert cat.get("resnet50").builder_for("segmentation") == "deeplabv3_resnet50"
    assert cat.get("mobilenet_v3_large").builder_for("detection") == "fasterrcnn_mobilenet_v3_large_fpn"
    assert "mobile" in cat.get("mobilenet_v3_large").targets
    assert "mobile" not in cat.get("resnet152").targets
    b2 = cat.get("efficientnet_b2")
    (doc,) = [f for f in b2.seed_figures if f.source == "004_1ef0001e8855db62.txt"]
    assert (doc.input_size, doc.top1) == (260, 80.1) and (b2.crop_size, b2.top1) == (288, 80.608)
    for v in cat:
        if v.kind in ("detection", "segmentation") and v.provided:
            # smp ships encoder weights only: no trained head, so no COCO/VOC figure to state
            assert v.builder_for(v.kind) == v.name and (v.metrics or v.source == "smp"), v.name
