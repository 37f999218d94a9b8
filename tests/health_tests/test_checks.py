"""The doctor's parts: hashing survives re-encoding, the group-aware split, image checks, balance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from hoot.testing.planted import degrade
from hoot.trainer.data.splits import stratified_split3
from hoot.trainer.health.balance import balance_findings, class_counts
from hoot.trainer.health.findings import ImageRecord
from hoot.trainer.health.hashing import HashIndex, read_facts
from hoot.trainer.health.image_checks import TINY_PX, image_findings

from .conftest import textured


def test_near_copy_within_threshold_distinct_images_beyond(tmp_path):
    rng = np.random.default_rng(1)
    paths = []
    for i in range(6):
        im = textured(rng, 96)
        im.save(tmp_path / f"{i}.png")
        degrade(im, shrink_px=4).save(tmp_path / f"{i}_near.jpg", quality=95)
        paths += [str(tmp_path / f"{i}.png"), str(tmp_path / f"{i}_near.jpg")]
    index = HashIndex()
    pairs = {(p.i, p.j) for p in index.pairs(paths)}
    assert pairs == {(2 * i, 2 * i + 1) for i in range(6)}
    groups = index.groups(paths)
    assert len(set(groups)) == 6 and all(groups[2 * i] == groups[2 * i + 1] for i in range(6))


def test_group_aware_split_keeps_groups_together():
    labels = [i % 3 for i in range(60)]
    groups = [i // 2 if i < 30 else i for i in range(60)]  # pairs (0,1), (2,3), ... share a group
    tr, va, te = stratified_split3(labels, 0.2, 0.2, 7, groups)
    side = {i: s for s, part in enumerate((tr, va, te)) for i in part}
    assert sorted(side) == list(range(60))
    assert all(side[2 * k] == side[2 * k + 1] for k in range(15))
    # singleton groups: the same split as without groups
    assert stratified_split3(labels, 0.2, 0.2, 7, list(range(60))) == stratified_split3(labels, 0.2, 0.2, 7)


def test_image_checks_tiny_odd_mode_truncated(tmp_path):
    Image.new("RGB", (TINY_PX - 8, 50)).save(tmp_path / "tiny.png")
    Image.new("RGBA", (64, 64)).save(tmp_path / "alpha.png")
    Image.new("RGB", (64, 64)).save(tmp_path / "ok.jpg")
    data = (tmp_path / "ok.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    names = ["tiny.png", "alpha.png", "ok.jpg", "cut.jpg"]
    recs = [ImageRecord(str(tmp_path / n), ("a",), "train") for n in names]
    found = {(f.kind, Path(f.paths[0]).name) for f in image_findings(recs, [read_facts(r.path) for r in recs])}
    assert found == {("tiny", "tiny.png"), ("odd-mode", "alpha.png"), ("unreadable", "cut.jpg")}


def test_tiny_threshold_is_the_trainers():
    from hoot.trainer.training.context import MIN_IMAGE_SIZE

    assert TINY_PX == MIN_IMAGE_SIZE


def test_balance_names_classes_in_a_lower_seeds_band():
    recs = [ImageRecord(f"{c}{i}", (c,), "train") for c, n in (("big", 1200), ("mid", 300), ("small", 40)) for i in range(n)]
    found = balance_findings(class_counts(recs, ["big", "mid", "small"]))
    assert {f.labels[0] for f in found if f.kind == "imbalance"} == {"mid", "small"}
    assert {f.labels[0] for f in found if f.kind == "small-class"} == {"small"}


def test_shuffled_split_grouped_and_unchanged_without_groups():
    from hoot.trainer.data.splits import shuffled_split3

    plain = shuffled_split3(40, 0.2, 0.2, 3)
    assert shuffled_split3(40, 0.2, 0.2, 3, groups=list(range(40))) == plain
    assert [len(part) for part in plain] == [24, 8, 8]
    groups = [i // 4 for i in range(40)]
    side = {i: s for s, part in enumerate(shuffled_split3(40, 0.2, 0.2, 3, groups=groups)) for i in part}
    assert all(len({side[i] for i in range(g * 4, g * 4 + 4)}) == 1 for g in range(10))
