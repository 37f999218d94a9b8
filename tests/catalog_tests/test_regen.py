"""tools/regen_catalog.py: regenerating from torchvision reproduces the shipped file and keeps judgement."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import yaml

pytest.importorskip("torchvision")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def regen():
    spec = importlib.util.spec_from_file_location("regen_catalog", ROOT / "tools" / "regen_catalog.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["regen_catalog"] = module
    spec.loader.exec_module(module)
    return module


def test_check_mode_passes_on_shipped_catalog(regen, capsys):
    assert regen.main(["--check", "--catalog", str(ROOT / "catalog.yaml")]) == 0


def test_regen_restores_facts_and_keeps_judgement(regen, tmp_path, capsys):
    text = (ROOT / "catalog.yaml").read_text(encoding="utf-8")
    doc = yaml.safe_load(text)
    b2 = next(e for e in doc["variants"] if e["name"] == "efficientnet_b2")
    b2["params"] = 1  # a wrong fact
    b2["crop_size"] = 260
    b2["memory_tier"] = "high"  # a judgement edit a maintainer made
    doc["variants"] = [e for e in doc["variants"] if e["name"] != "regnet_y_400mf"]  # a builder new to the file
    edited = tmp_path / "catalog.yaml"
    edited.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")

    assert regen.main(["--check", "--catalog", str(edited)]) == 1
    assert regen.main(["--catalog", str(edited)]) == 0
    new = {e["name"]: e for e in yaml.safe_load(edited.read_text(encoding="utf-8"))["variants"]}
    assert new["efficientnet_b2"]["params"] == 9109994 and new["efficientnet_b2"]["crop_size"] == 288
    assert new["efficientnet_b2"]["memory_tier"] == "high"
    assert new["efficientnet_b2"]["seed_figures"][1]["input_size"] == 260
    added = new["regnet_y_400mf"]
    assert added["family"] == "RegNet" and added["params"] == 4344144
    assert added["memory_tier"] == "low" and "mobile" in added["targets"]
    assert "derived by tools/regen_catalog.py" in added["notes"]
    assert "added 'regnet_y_400mf'" in capsys.readouterr().err
    assert regen.main(["--check", "--catalog", str(edited)]) == 0  # idempotent


def test_rule_proposals_stay_consistent_with_seed_judgement(regen):
    """The size rules, applied to a seeds/000 variant, agree with the document on the clear cases."""
    from hoot.advisor.catalog import load_catalog

    cat = load_catalog()
    for name in ("shufflenet_v2_x0_5", "mobilenet_v3_small", "resnet34", "efficientnet_b7", "efficientnet_v2_l"):
        v = cat.get(name)
        facts = regen.torchvision_facts(name)
        assert regen.propose_judgement(name, facts)["memory_tier"] == v.memory_tier, name
