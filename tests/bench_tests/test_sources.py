"""Model sources: each builds with a head for the user's classes, loads weights from a file the
test writes into its package's cache, fails offline with one line naming the file, and names
its package and version on the built model."""

from __future__ import annotations

import os

import pytest
import torch

from hoot.advisor.catalog import parse_catalog
from hoot.advisor.errors import HootError
from hoot.bench.models import build_model, require_cached_weights
from hoot.bench.sources import all_sources, source_of

timm = pytest.importorskip("timm")
smp = pytest.importorskip("segmentation_models_pytorch")
from hoot.testing.weights import write_hub_file, write_smp_encoder_file  # noqa: E402

CATALOG = """
schema_version: 1
variants:
- name: lcnet_050
  family: LCNet
  display_name: LCNet-0.5
  kind: classification
  provided: true
  source: timm
  year: 2021
  paper: null
  weights: timm/lcnet_050.ra2_in1k
  weights_file: model.safetensors
  task_builders: {classification: lcnet_050, multilabel: lcnet_050}
- name: unet_resnet34
  family: U-Net
  display_name: U-Net (ResNet-34 encoder)
  kind: segmentation
  provided: true
  source: smp
  year: 2015
  paper: null
  weights: smp-hub/resnet34.imagenet
  weights_file: model.safetensors
  task_builders: {segmentation: unet_resnet34}
"""


@pytest.fixture()
def catalog():
    return parse_catalog(CATALOG, "test.yaml")


def test_timm_weights_load_from_the_hub_cache_with_a_new_head(catalog):
    torch.manual_seed(7)
    state = timm.create_model("lcnet_050").state_dict()
    write_hub_file("timm/lcnet_050.ra2_in1k", "0123abcd", state)
    require_cached_weights(["lcnet_050"], catalog)  # no error: the file is there
    model = build_model("lcnet_050", num_classes=3, pretrained=True, catalog=catalog)
    assert torch.equal(model.conv_stem.weight, state["conv_stem.weight"])  # backbone from the file
    assert model.hoot_head_names == ["classifier"] and model.classifier.out_features == 3
    assert model.hoot_source == "timm" and model.hoot_source_version == timm.__version__.split("+")[0]
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 3)


def test_smp_encoder_weights_load_and_logits_are_per_pixel(catalog):
    torch.manual_seed(7)
    state = smp.create_model("unet", encoder_name="resnet34", encoder_weights=None).encoder.state_dict()
    write_smp_encoder_file("resnet34", state)
    model = build_model("unet_resnet34", task="segmentation", num_classes=4, pretrained=True, catalog=catalog)
    assert torch.equal(model.encoder.conv1.weight, state["conv1.weight"])
    assert model.eval()(torch.zeros(1, 3, 64, 64)).shape == (1, 4, 64, 64)  # logits N, C, H, W
    assert model.hoot_source == "segmentation-models-pytorch"


@pytest.mark.parametrize("name, needle", [("lcnet_050", "models--timm--lcnet_050.ra2_in1k"),
                                          ("unet_resnet34", "models--smp-hub--resnet34.imagenet")])
def test_missing_file_offline_is_one_error_naming_file_and_place(catalog, name, needle):
    with pytest.raises(HootError) as err:
        require_cached_weights([name], catalog)
    text = str(err.value)
    assert text.startswith(f"pretrained weights file 'model.safetensors' for {name} is not in the Hugging Face hub cache")
    assert needle in text and os.environ["HF_HUB_CACHE"] in text and "--no-pretrained" in text and "\n" not in text
    with pytest.raises(HootError):
        build_model(name, task=catalog.get(name).kind, pretrained=True, catalog=catalog)


def test_torchvision_missing_file_names_torch_cache():
    from hoot.advisor.catalog import load_catalog

    variant = load_catalog().get("mobilenet_v3_small")
    with pytest.raises(HootError, match=r"^pretrained weights file 'mobilenet_v3_small-.*torchvision's cache.*"
                                        + os.environ["TORCH_HOME"]):
        source_of(variant).cached_weights(variant)


def test_every_source_names_its_installed_package():
    import importlib.metadata as md

    for source in all_sources().values():
        assert source.version() == md.version(source.package).split("+")[0]


def test_store_file_of_schema_2_gains_the_source_columns(tmp_path):
    """An additive upgrade: version-2 files get the model-source columns (NULL in old rows)."""
    import sqlite3

    from hoot.bench.store import ResultStore

    db = tmp_path / "r.sqlite"
    ResultStore(db).close()
    conn = sqlite3.connect(db)
    conn.execute("ALTER TABLE measurements DROP COLUMN model_source_version")
    conn.execute("ALTER TABLE measurements DROP COLUMN model_source")
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()
    ResultStore(db).close()
    cols = {row[1] for row in sqlite3.connect(db).execute("PRAGMA table_info(measurements)")}
    assert {"model_source", "model_source_version"} <= cols


def test_bench_skips_an_smp_model_at_a_size_it_cannot_take(catalog):
    """smp's encoders take sides that are multiples of 32: the plan says so instead of a failed row."""
    from hoot.bench.runner import RunOptions, plan_jobs

    unet = catalog.get("unet_resnet34")
    jobs, _, notes = plan_jobs([unet], RunOptions(device="cpu", threads=1, input_size=100), "test-cpu-00000000")
    assert jobs == [] and any("unet_resnet34: skipped: its input sides must be a multiple of 32 px; pass --input-size 96"
                              in n for n in notes)
    jobs, _, _ = plan_jobs([unet], RunOptions(device="cpu", threads=1, input_size=96), "test-cpu-00000000")
    assert [j.input_size for j in jobs] == [96]
