"""The shipped catalog's facts equal torchvision's weights metadata (offline), and the check catches plants."""

from __future__ import annotations

import dataclasses

import pytest

from hoot.advisor.catalog import Catalog, load_catalog
from hoot.advisor.truth import SEED_VARIANT_NAMES, check_catalog as check_against

pytest.importorskip("torchvision")
from hoot.bench.sources import all_sources  # noqa: E402


def check_catalog(cat: Catalog) -> list[str]:
    return check_against(cat, all_sources())


def torchvision_facts(name: str) -> dict:
    return all_sources()["torchvision"].facts(name)


@pytest.fixture(scope="module")
def shipped() -> Catalog:
    return load_catalog()


def _replace(cat: Catalog, name: str, **changes) -> Catalog:
    variants = tuple(dataclasses.replace(v, **changes) if v.name == name else v for v in cat.variants)
    return Catalog(variants, cat.path)


def test_shipped_catalog_matches_torchvision(shipped):
    assert check_catalog(shipped) == []


def test_every_torchvision_builder_is_catalogued(shipped):
    missing = set(all_sources()["torchvision"].builders()) - set(shipped.names())
    assert not missing, f"run tools/regen_catalog.py: {sorted(missing)}"


def test_facts_reader_units():
    facts = torchvision_facts("efficientnet_b2")
    assert facts["crop_size"] == 288 and facts["params"] == 9109994
    assert facts["gmacs"] == pytest.approx(1.088)  # torchvision's "GFLOPS" are multiply-adds
    assert facts["weights"] == "EfficientNet_B2_Weights.IMAGENET1K_V1"
    det = torchvision_facts("maskrcnn_resnet50_fpn")
    assert det["top1"] is None and set(det["metrics"]) == {"box_map", "mask_map"}
    assert det["weights_dataset"] == "COCO-val2017"


@pytest.mark.parametrize("name,changes,field", [
    ("resnet18", {"params": 11689513}, "params"),  # exact: one parameter off is wrong
    ("efficientnet_b2", {"gmacs": 1.088 * 1.006}, "gmacs"),  # outside 0.5%
    ("efficientnet_b2", {"crop_size": 260}, "crop_size"),  # the paper's size is a seed figure, not the fact
    ("efficientnet_b2", {"top1": 80.1}, "top1"),
    ("mobilenet_v3_large", {"top5": 92.0}, "top5"),
    ("mobilenet_v3_large", {"resize_size": None}, "resize_size"),
    ("resnet50", {"weights": "ResNet50_Weights.IMAGENET1K_V1"}, "weights"),
    ("resnet50", {"weights_file": "resnet50-0676ba61.pth"}, "weights_file"),
    ("resnet50", {"weights_file_mb": 102.5}, "weights_file_mb"),
    ("fasterrcnn_resnet50_fpn", {"metrics": {"box_map": 37.5}}, "metrics"),
    ("deeplabv3_resnet50", {"metrics": {"miou": 66.4}}, "metrics"),  # pixel_acc dropped
    ("deeplabv3_resnet50", {"kind": "classification"}, "kind"),
    # timm: its pretrained config, its published table and hoot's own count
    ("mobilenetv4_conv_small", {"top1": 75.616}, "top1"),  # the 320 px figure is not the native-size one
    ("mobilenetv4_conv_small", {"crop_size": 256}, "crop_size"),
    ("efficientnet_lite0", {"weights": "timm/efficientnet_lite0.other_in1k"}, "weights"),
    ("levit_128s", {"weights_license": "mit"}, "weights_license"),
    ("inception_v4", {"gmacs": 12.254 * 1.01}, "gmacs"),
    ("lcnet_050", {"params": 1880000}, "params"),  # the table's 1.88M is rounded: the count is exact
    # smp: params and GMACs at 21 classes, 512 px
    ("unet_resnet34", {"params": 24439268}, "params"),
    ("upernet_resnet50", {"weights": "smp-hub/resnet34.imagenet"}, "weights"),
])
def test_planted_wrong_fact_is_caught(shipped, name, changes, field):
    problems = check_catalog(_replace(shipped, name, **changes))
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{name}: {field} ")


def test_gmacs_within_tolerance_passes(shipped):
    assert check_catalog(_replace(shipped, "efficientnet_b2", gmacs=1.088 * 1.004)) == []


def test_structural_problems_are_caught(shipped):
    cat = _replace(shipped, "resnet50", task_builders={"classification": "resnet50", "detection": "fasterrcnn_resnet77_fpn"})
    assert any("task_builders.detection" in p and "resnet77" in p for p in check_catalog(cat))

    cat = _replace(shipped, "yolov8", provided=False, task_builders={"detection": "yolov8"})
    assert check_catalog(cat) == []  # not provided may name itself
    cat = _replace(shipped, "resnet50", task_builders={"detection": "yolov8"})
    assert any("torchvision does not provide" in p for p in check_catalog(cat))

    cat = _replace(shipped, "alexnet", provided=False)
    assert any(p.startswith("alexnet: provided is false") for p in check_catalog(cat))

    cat = _replace(shipped, "mcunet", provided=True)
    assert any(p.startswith("mcunet: torchvision has no builder") for p in check_catalog(cat))

    cat = Catalog(tuple(v for v in shipped.variants if v.name != "squeezenet1_1"), shipped.path)
    assert any(p.startswith("squeezenet1_1: missing") for p in check_catalog(cat))

    cat = _replace(shipped, "resnet18", seed_variant=False)
    assert any(p.startswith("resnet18: seed_variant should be true") for p in check_catalog(cat))
    cat = _replace(shipped, "alexnet", seed_variant=True)
    assert any(p.startswith("alexnet: seed_variant is true") for p in check_catalog(cat))


def test_seed_list_is_the_28_of_seeds_000():
    assert len(SEED_VARIANT_NAMES) == len(set(SEED_VARIANT_NAMES)) == 28


NAMED = {"efficientnet_lite0", "mobilenetv1_100", "resnetv2_50", "inception_v4", "inception_resnet_v2",
         "unet_resnet34", "unet_resnet50", "deeplabv3plus_resnet50", "upernet_resnet50"}
FAMILIES = {"MobileNetV4", "FastViT", "EfficientViT", "RepViT", "MobileViTv2", "EfficientFormerV2", "GhostNetV2",
            "LeViT", "ConvNeXt-V2", "EdgeNeXt", "MobileOne", "StarNet", "LCNet", "TinyNet"}


def test_documents_models_and_modern_families_are_provided(shipped):
    """Issue 19: the nine named models from timm/smp, and every modern family, with facts from their source."""
    assert all(shipped.get(n).provided and shipped.get(n).source in ("timm", "smp") for n in NAMED)
    timm_families = {v.family for v in shipped if v.source == "timm" and v.provided}
    assert FAMILIES <= timm_families
    for v in shipped:
        if v.source == "timm":
            assert v.top1 and v.top5 and v.weights.startswith("timm/") and v.weights_license, v.name


def test_timm_top1_is_the_published_figure_at_the_native_size():
    from hoot.bench.sources.timm import published_row

    row = published_row("mobilenetv4_conv_small.e2400_r224_in1k", 224)
    assert row["top1"] == 73.756 and row["top5"] == 91.43  # results-imagenet.csv as copied (tools/data)
    facts = all_sources()["timm"].facts("mobilenetv4_conv_small")
    assert facts["top1"] == 73.756 and facts["crop_size"] == 224 and facts["resize_size"] == 256
