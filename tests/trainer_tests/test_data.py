"""Data scan and validation: layouts, split, skipped files, one-line errors, warnings."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from hoot.advisor.errors import HootError
from hoot.testing.images import CLASSES, make_imagefolder
from hoot.trainer.training.context import build_caches
from hoot.trainer.data.dataset import stratified_split, stratified_split3
from hoot.trainer.tasks.scanning import scan_dataset


def test_imagefolder_counts_and_stratified_split(shapes):
    scan = scan_dataset(shapes, val_fraction=0.25, seed=1)
    assert scan.layout == "imagefolder" and scan.task == "classification"
    assert scan.classes == sorted(CLASSES)
    counts = {r["class"]: (r["train"], r["val"], r["test"]) for r in scan.class_counts()}
    assert all(v == (7, 3, 2) for v in counts.values()), counts  # 12 per class: test round(0.2 x 12), val round(0.25 x 12)
    again = scan_dataset(shapes, val_fraction=0.25, seed=1)
    assert [s.path for s in again.val] == [s.path for s in scan.val]
    other = scan_dataset(shapes, val_fraction=0.25, seed=2)
    assert [s.path for s in other.val] != [s.path for s in scan.val]
    assert not set(s.path for s in scan.val) & set(s.path for s in scan.train)
    assert not set(s.path for s in scan.test) & (set(s.path for s in scan.train) | set(s.path for s in scan.val))
    assert scan.median_size() == 40


def test_stratified_split_keeps_every_class_in_both_splits():
    labels = [0] * 20 + [1] * 3 + [2] * 2
    tr, va = stratified_split(labels, 0.2, seed=0)
    assert sorted(tr + va) == list(range(25))
    for c in (0, 1, 2):
        assert any(labels[i] == c for i in va) and any(labels[i] == c for i in tr)


def test_presplit_train_val(tmp_path):
    make_imagefolder(tmp_path / "d" / "train", per_class=5)
    make_imagefolder(tmp_path / "d" / "val", per_class=2, seed=3)
    scan = scan_dataset(tmp_path / "d")  # no test/: one image per class drawn from train (round(0.2 x 5))
    assert scan.layout == "train-val" and len(scan.train) == 12 and len(scan.val) == 6 and len(scan.test) == 3


def test_bad_files_are_listed_skipped_and_counted(shapes, tmp_path, monkeypatch):
    cls = shapes / CLASSES[0]
    (cls / "empty.png").write_bytes(b"")
    (cls / "notes.jpg").write_text("not an image")
    good = (cls / f"{CLASSES[0]}_000.png").read_bytes()
    (cls / "truncated.png").write_bytes(good[: len(good) // 2])
    Image.new("RGB", (200, 200)).save(cls / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100 * 100)
    scan = scan_dataset(shapes)
    reasons = {p.split("/")[-1]: r for p, r in ((s["path"], s["reason"]) for s in scan.skipped)}
    assert reasons["empty.png"] == "zero-byte file"
    assert reasons["notes.jpg"].startswith("unreadable")
    assert reasons["bomb.png"].startswith("refused: decompression bomb")
    n_before = len(scan.train) + len(scan.val) + len(scan.test)
    build_caches(scan, 32, tmp_path / "cache", progress=False)  # the truncated file is found when decoded
    reasons = {s["path"].split("/")[-1]: s["reason"] for s in scan.skipped}
    assert reasons["truncated.png"].startswith("truncated or corrupt")
    assert len(scan.train) + len(scan.val) + len(scan.test) == n_before - 1 == 36


@pytest.mark.parametrize("setup, message", [
    (lambda p: None, "does not exist"),
    (lambda p: p.write_text("x"), "is a file"),
    (lambda p: (p.mkdir(), (p / "a.txt").write_text("x")), "no class folders"),
    (lambda p: (p.mkdir(), (p / "cats").mkdir(), (p / "dogs").mkdir()), "no images"),
])
def test_unusable_folders_are_one_line_errors(tmp_path, setup, message):
    p = tmp_path / "data"
    setup(p)
    with pytest.raises(HootError, match=message) as info:
        scan_dataset(p)
    assert "\n" not in info.value.format_message()


def test_single_class_and_empty_class(tmp_path):
    make_imagefolder(tmp_path / "one", classes=("only",), per_class=5)
    with pytest.raises(HootError, match="single class"):
        scan_dataset(tmp_path / "one")
    root = make_imagefolder(tmp_path / "two", per_class=5)
    (root / "empty_class").mkdir()
    (root / "empty_class" / "broken.png").write_bytes(b"")
    with pytest.raises(HootError, match="class 'empty_class' .* no usable training images"):
        scan_dataset(root)


def test_few_images_per_class_warns_with_the_seeds_advice(tmp_path):
    scan = scan_dataset(make_imagefolder(tmp_path / "few", per_class=4))
    text = " ".join(scan.warnings)
    assert "few images per class" in text and "seeds/004" in text and "--strategy frozen" in text


def test_multilabel_sidecars_and_labels_csv(tmp_path):
    rng = np.random.default_rng(0)
    side = tmp_path / "side"
    side.mkdir()
    rows = ["image,labels"]
    for i in range(20):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(side / f"{i}.png")
        tags = ["cat"] + (["indoor"] if i % 2 else ["outdoor"])
        (side / f"{i}.txt").write_text(", ".join(tags))
        rows.append(f"{i}.png,{';'.join(tags)}")
    scan = scan_dataset(side)
    assert scan.task == "multilabel" and scan.layout == "sidecars"
    assert scan.classes == ["cat", "indoor", "outdoor"]
    # what the report says of the split is what was done: a seeded shuffle, not a stratified draw
    assert "seeded shuffle" in scan.split_rule and "(stratified" not in scan.split_rule and "per class" not in scan.split_rule
    assert all(len(s.label) == 2 for s in scan.train + scan.val)
    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    for i in range(20):
        (csv_dir / f"{i}.png").write_bytes((side / f"{i}.png").read_bytes())
    (csv_dir / "labels.csv").write_text("\n".join(rows + ["missing.png,cat"]))
    scan = scan_dataset(csv_dir)
    assert scan.layout == "labels.csv" and scan.classes == ["cat", "indoor", "outdoor"]
    assert any("missing" in s["reason"] for s in scan.skipped)


def test_three_way_split_is_stratified_seeded_and_keeps_one_for_training():
    labels = [0] * 20 + [1] * 3
    tr, va, te = stratified_split3(labels, 0.2, 0.2, seed=0)
    assert sorted(tr + va + te) == list(range(23)) and not set(tr) & set(va) | set(tr) & set(te) | set(va) & set(te)
    assert [sum(labels[i] == c for i in te) for c in (0, 1)] == [4, 1]  # round(0.2 x 20), at least one
    assert [sum(labels[i] == c for i in va) for c in (0, 1)] == [4, 1]
    assert stratified_split3(labels, 0.2, 0.2, seed=0) == (tr, va, te)


def test_given_test_folder_is_the_test_split(tmp_path):
    make_imagefolder(tmp_path / "d" / "train", per_class=6)
    make_imagefolder(tmp_path / "d" / "val", per_class=2, seed=3)
    make_imagefolder(tmp_path / "d" / "test", per_class=3, seed=4)
    scan = scan_dataset(tmp_path / "d")
    assert scan.layout == "train-val-test" and (len(scan.train), len(scan.val), len(scan.test)) == (18, 6, 9)
    assert all("/test/" in s.path for s in scan.test) and "from DATA/test/" in scan.split_rule


def test_class_too_small_for_three_splits_is_refused(tmp_path):
    root = make_imagefolder(tmp_path / "d", per_class=5)
    make_imagefolder(root, per_class=2, classes=("tiny",))
    with pytest.raises(HootError, match="class 'tiny' .* 2 usable image.*at least 3"):
        scan_dataset(root)


def test_symlink_back_to_the_root_is_not_counted_twice(tmp_path):
    root = make_imagefolder(tmp_path / "d", per_class=5)
    (root / CLASSES[0] / "loop").symlink_to(root, target_is_directory=True)
    scan = scan_dataset(root)
    assert len(scan.train) + len(scan.val) + len(scan.test) == 15
    from hoot.advisor.dataset_scan import summarize_dataset as advise_scan

    assert advise_scan(root).n_images == 15


def test_only_unreadable_files_says_so(tmp_path):
    for c in ("a", "b"):
        (tmp_path / "d" / c).mkdir(parents=True)
        (tmp_path / "d" / c / "zero.png").write_bytes(b"")
        (tmp_path / "d" / c / "text.jpg").write_text("hello")
    with pytest.raises(HootError, match="were unreadable"):
        scan_dataset(tmp_path / "d")


def test_class_folder_name_that_is_not_utf8_gets_a_safe_name(tmp_path):
    import os

    root = make_imagefolder(tmp_path / "d", per_class=5)
    odd = os.fsdecode(bytes(root) + b"/caf\xe9")
    os.rename(root / CLASSES[0], odd)
    scan = scan_dataset(root)
    assert "caf\\xe9" in scan.classes
    "".join(scan.classes).encode("utf-8")  # writable anywhere


def test_advise_scan_skips_a_decompression_bomb_with_a_note(shapes, monkeypatch):
    """The advisor's scan (advise --dataset) and the trainer's refuse the same bomb the same way."""
    from hoot.advisor.dataset_scan import summarize_dataset as advise_scan

    Image.new("RGB", (200, 200)).save(shapes / CLASSES[0] / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100 * 100 // 3)  # 200x200 is over twice the limit: Pillow's error
    summary = advise_scan(shapes)
    assert summary.unreadable == 1 and any("decompression bomb" in w for w in summary.warnings)
    trainer = scan_dataset(shapes)
    assert [s["reason"].startswith("refused: decompression bomb") for s in trainer.skipped] == [True]
