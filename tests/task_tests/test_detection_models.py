"""Detectors for the user's classes: every trainable catalog detector builds with K + 1 outputs
and trains one step; COCO weights load into all but the head; offline a missing file is one
error; the size a detector runs at is the one the catalog (and hoot bench) states."""

from __future__ import annotations

import pytest
import torch

from hoot.advisor.catalog import load_catalog
from hoot.advisor.errors import HootError
from hoot.bench.models import build_model
from hoot.bench.sources import source_of
from hoot.trainer.tasks.detection_augment import BoxTarget
from hoot.trainer.tasks.detection_models import (NOT_TRAINABLE, build_detector, detection_candidates,
                                                 model_targets, set_input_size)

DETECTORS = [v.name for v in load_catalog() if v.kind == "detection" and v.provided]


def _batch(px=64):
    g = torch.Generator().manual_seed(0)
    images = [torch.rand(3, px, px, generator=g) for _ in range(2)]
    targets = [BoxTarget(torch.tensor([[4.0, 6.0, 30.0, 40.0]]), torch.tensor([0])),
               BoxTarget(torch.tensor([[10.0, 10.0, 50.0, 30.0], [1.0, 1.0, 9.0, 9.0]]), torch.tensor([2, 1]))]
    return images, targets


@pytest.mark.parametrize("name", [n for n in DETECTORS if n not in NOT_TRAINABLE])
def test_every_trainable_detector_builds_and_trains_a_step(name):
    torch.manual_seed(0)
    model = build_detector(name, num_classes=3, pretrained=False, image_size=64)
    runs = model.hoot_input.px
    assert runs == max(64, 300 if name == "ssd300_vgg16" else 0)
    images, targets = _batch(64)
    model.train()
    losses = model(images, model_targets(targets))
    assert losses and all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    model.eval()
    with torch.no_grad():
        out = model(images)
    assert len(out) == 2 and set(out[0]) >= {"boxes", "labels", "scores"}
    if len(out[0]["labels"]):
        assert int(out[0]["labels"].max()) <= 3  # K + 1 outputs, background 0


@pytest.mark.parametrize("name", sorted(NOT_TRAINABLE))
def test_mask_and_keypoint_detectors_say_why_not(name):
    with pytest.raises(HootError, match="cannot be trained by hoot"):
        build_detector(name, 3, pretrained=False)
    assert name not in detection_candidates()


def test_candidates_include_the_backbones_that_name_a_detector():
    names = detection_candidates()
    assert "ssdlite320_mobilenet_v3_large" in names and "resnet50" in names


def test_offline_missing_weights_is_one_clear_error():
    with pytest.raises(HootError, match="ssdlite320_mobilenet_v3_large_coco-a79551df.pth.*--no-pretrained"):
        build_detector("ssdlite320_mobilenet_v3_large", 3, pretrained=True)


def test_coco_weights_load_into_all_but_the_head():
    name = "ssdlite320_mobilenet_v3_large"
    torch.manual_seed(1)
    coco = build_model(name, "detection", num_classes=91)  # stands in for the COCO file
    variant = load_catalog().get(name)
    path = source_of(variant).weights_file(variant).path
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(coco.state_dict(), path)
    model = build_detector(name, 3, pretrained=True)
    mine, theirs = model.state_dict(), coco.state_dict()
    assert model.hoot_head_names and all("classification_head" in h for h in model.hoot_head_names)
    loaded = [k for k in mine if mine[k].shape == theirs[k].shape]
    assert all(torch.equal(mine[k], theirs[k]) for k in loaded)
    fresh = [k for k in mine if mine[k].shape != theirs[k].shape]
    assert fresh and all(mine[k].shape[0] % 4 == 0 for k in fresh)  # (anchors x 4 classes) outputs


@pytest.mark.parametrize("name", DETECTORS)
def test_stated_input_size_is_what_the_transform_resizes_to(name):
    variant = load_catalog().get(name)
    model = build_model(name, "detection", num_classes=2)
    assert variant.native_input_px == model.transform.min_size[-1]  # eval uses the last (Keypoint R-CNN trains multi-scale)
    assert str(variant.native_input_px) in variant.input_basis


def test_bench_plans_ssdlite_at_320_and_says_so():
    from hoot.bench.runner import RunOptions, plan_jobs

    cat = load_catalog()
    jobs, _, notes = plan_jobs([cat.get("ssdlite320_mobilenet_v3_large"), cat.get("deeplabv3_mobilenet_v3_large")],
                               RunOptions(), "hw")
    sizes = {j.variant: j.input_size for j in jobs}
    assert sizes == {"ssdlite320_mobilenet_v3_large": 320, "deeplabv3_mobilenet_v3_large": 520}
    assert all(j.native_input for j in jobs)
    assert any("ssdlite320_mobilenet_v3_large: measured at 320 px" in n for n in notes)
    assert any("deeplabv3_mobilenet_v3_large: measured at 520 px" in n for n in notes)


def test_set_input_size_keeps_ssd_fixed_size_square():
    model = build_model("ssdlite320_mobilenet_v3_large", "detection", num_classes=2)
    got = set_input_size(model, 96)
    assert got.px == 96 and model.transform.fixed_size == (96, 96)
