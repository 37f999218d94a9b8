"""targets.yaml: valid, cited, and consistent with the documents' own picks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hoot.advisor.catalog import TARGETS, load_catalog
from hoot.advisor.errors import HootError
from hoot.advisor.recommender.recommend import Candidate, accuracy_of, build_constraints, Request
from hoot.advisor.recommender.targets import load_targets, parse_targets

SEEDS_DIR = Path(__file__).resolve().parents[3] / "shared" / "seeds"


def test_every_catalog_target_is_defined_with_weights():
    book = load_targets()
    assert set(book.targets) == set(TARGETS)
    for t in book.targets.values():
        assert t.ranking.accuracy + t.ranking.cost > 0
        assert "seeds/" in t.rule


def test_every_budget_and_pick_cites_a_seed_document():
    book = load_targets()
    for t in book.targets.values():
        for b in t.budgets:
            assert re.search(r"seeds/00\d", b.source), (t.name, b.kind)
        for p in t.picks:
            assert re.search(r"seeds/00\d", p.source), (t.name, p.variants)
        for m in t.not_in_torchvision:
            assert re.search(r"seeds/00\d", m.source), (t.name, m.name)


def test_seed_map_names_real_files():
    book = load_targets()
    assert set(book.seeds) == {"000", "001", "002", "003", "004"}
    if SEEDS_DIR.is_dir():  # the shared folder is present in the workspace, not in a wheel
        for name in book.seeds.values():
            assert (SEEDS_DIR / name).is_file(), name


def test_strict_targets_are_tighter_than_loose_ones():
    """Edge is the most constrained target, mobile next; servers with a GPU have no budgets (seeds/002 Step 1)."""
    book = load_targets()
    limit = {n: {b.kind: b.value for b in t.budgets} for n, t in book.targets.items()}
    assert limit["edge"]["max_params"] < limit["mobile"]["max_params"] < limit["production"]["max_params"]
    assert limit["edge"]["max_gmacs"] < limit["mobile"]["max_gmacs"] < limit["cpu-server"]["max_gmacs"]
    assert limit["gpu-server"] == {} and limit["research"] == {}
    assert book.targets["edge"].ranking.cost > book.targets["mobile"].ranking.cost > book.targets["gpu-server"].ranking.cost


@pytest.mark.parametrize("target", TARGETS)
def test_every_named_pick_exists_and_fits_its_own_target(target):
    """The budgets are the envelope of the documents' picks: each named, provided pick passes them."""
    book, catalog = load_targets(), load_catalog()
    t = book.get(target)
    for group in t.picks:
        for name in group.variants:
            v = catalog.get(name)  # raises for a name the catalog lacks
            for task in group.tasks:
                assert v.supports(task), (name, task)
                c = Candidate(v, accuracy_of(v, task), memory_tier=v.memory_tier)
                failed = [k.label for k in build_constraints(Request(task=task, target=target), t) if not k.test(c).ok]
                assert not failed, (name, task, failed)


def test_common_picks_exist():
    book, catalog = load_targets(), load_catalog()
    for group in book.common_picks:
        for name in group.variants:
            assert catalog.get(name).kind in group.tasks


def test_unknown_target_lists_valid_ones():
    with pytest.raises(HootError, match="unknown target 'phone'; use one of mobile, edge"):
        load_targets().get("phone")


def _shipped_text() -> str:
    from importlib import resources

    return resources.files("hoot.advisor.recommender").joinpath("targets.yaml").read_text()


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("max_params:\n        value: 10000000", "max_params:\n        value: -3", "expected a positive number"),
        ("max_gmacs:\n        value: 0.70", "max_gflops:\n        value: 0.70", "unknown budget 'max_gflops'"),
        ("value: [low, medium]", "value: [tiny]", "expected a list from low"),
        ("role: primary\n        tasks: [classification, multilabel]\n        variants: [mobilenet_v3_large]",
         "role: favourite\n        tasks: [classification, multilabel]\n        variants: [mobilenet_v3_large]",
         "unknown role 'favourite'"),
        ('"004": 004_1ef0001e8855db62.txt', '"009": x.txt', "cites seeds/004"),
        ("schema_version: 1", "schema_version: 2", "schema_version: 1"),
        ("  edge:\n    title:", "  phone:\n    title:", "target 'phone': not a catalog target"),
    ],
)
def test_malformed_targets_name_the_field(old, new, message):
    text = _shipped_text()
    assert old in text
    with pytest.raises(HootError, match=re.escape(message)):
        parse_targets(text.replace(old, new, 1))


def test_malformed_yaml_is_one_error():
    with pytest.raises(HootError, match="malformed YAML"):
        parse_targets("targets: [unclosed")
