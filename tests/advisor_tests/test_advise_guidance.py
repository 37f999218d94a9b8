"""Fine-tuning guidance (seeds/004) and the ImageFolder scan (no torch)."""

from __future__ import annotations

import pytest
from PIL import Image

from hoot.advisor.dataset_scan import summarize_dataset as scan_dataset
from hoot.advisor.errors import HootError
from hoot.advisor.guidance import (
    build_guidance,
    dataset_band,
    finetune_strategy,
    input_size_fit,
    learning_rate_range,
    suggested_input_size,
)


@pytest.mark.parametrize(
    "n, similarity, expected",
    [
        (50, "similar", "feature_extraction"),
        (999, "similar", "feature_extraction"),
        (1000, "similar", "top_layers"),
        (9999, "similar", "top_layers"),
        (10_000, "similar", "full"),
        (500, "somewhat-different", "feature_extraction"),
        (500, "different", "top_layers"),  # one step toward more layers, no further
        (5000, "different", "top_layers"),
        (50_000, "different", "full"),
    ],
)
def test_strategy_by_size_and_similarity(n, similarity, expected):
    s = finetune_strategy(n, similarity)
    assert s.name == expected
    assert any("seeds/004" in src for src in s.sources)
    assert "seeds/004" in s.reason


def test_learning_rates_follow_seeds_004():
    head = finetune_strategy(300)
    assert (head.lr_min, head.lr_max, head.trainable) == (1e-3, 1e-2, "head")
    full = finetune_strategy(20_000)
    assert (full.lr_min, full.lr_max, full.trainable) == (1e-4, 1e-3, "all")
    top = finetune_strategy(3000)
    assert (top.lr_min, top.lr_max, top.head_lr_min, top.head_lr_max) == (1e-4, 1e-3, 1e-3, 1e-2)
    assert learning_rate_range("full") == (1e-4, 1e-3)


def test_compute_budget_caps_and_notes():
    assert finetune_strategy(50_000, compute="limited").name == "feature_extraction"
    assert finetune_strategy(50_000, compute="generous").name == "full"
    tiny = finetune_strategy(40)
    assert "below the 100-image floor" in tiny.notes[0]
    assert any("from scratch" in n for n in finetune_strategy(200_000, "different").notes)


@pytest.mark.parametrize("call, message", [
    (lambda: finetune_strategy(-1), "whole number of images"),
    (lambda: finetune_strategy(100, "alien"), "unknown similarity 'alien'"),
    (lambda: finetune_strategy(100, compute="huge"), "unknown compute budget 'huge'"),
    (lambda: learning_rate_range("everything"), "unknown strategy"),
])
def test_guidance_errors(call, message):
    with pytest.raises(HootError, match=message):
        call()


def test_dataset_bands_follow_seeds_000():
    assert [dataset_band(n).name for n in (10, 999, 1000, 10_000, 10_001)] == ["small", "small", "medium", "medium", "large"]


def test_input_size_against_images():
    fits, note = input_size_fit(224, 64)
    assert fits is False and "upsamples your images 3.5x" in note and "seeds/001" in note
    assert input_size_fit(224, 200)[0] is True
    assert input_size_fit(224, 1000)[0] is False
    assert suggested_input_size(250)["input_size_px"] == 256
    assert suggested_input_size(700)["input_size_px"] == 384
    assert "far below 224" in suggested_input_size(48)["rule"]


def test_guidance_block():
    g = build_guidance(2500, "similar", median_short_side_px=120)
    d = g.as_dict()
    assert d["strategy"]["name"] == "top_layers" and d["dataset_band"] == "medium"
    assert d["input_size"]["input_size_px"] == 224
    assert any(line.startswith("Fine-tuning: Strategy 2") for line in g.lines())


# -- dataset scan ------------------------------------------------------------------
def _image(path, size, fmt="PNG"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (120, 30, 200)).save(path, fmt)


def make_folder(root, layout):
    for cls, sizes in layout.items():
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i, size in enumerate(sizes):
            _image(root / cls / f"{i}.png", size)
    return root


def test_scan_counts_classes_and_sizes(tmp_path):
    root = make_folder(tmp_path / "data", {"cat": [(64, 48)] * 3, "dog": [(100, 80), (100, 80)], "empty": []})
    (root / "cat" / "notes.txt").write_text("not an image")
    (root / "dog" / "broken.jpg").write_bytes(b"definitely not a jpeg")
    s = scan_dataset(root)
    assert (s.n_images, s.n_classes) == (6, 3)  # broken.jpg has an image extension: counted, flagged unreadable
    assert s.per_class == {"cat": 3, "dog": 3, "empty": 0}
    assert s.empty_classes == ["empty"] and any("empty class" in w for w in s.warnings)
    assert s.unreadable == 1 and s.sizes_read == 5
    assert s.median_short_side_px == 48.0 and s.median_width_px == 64.0
    assert s.imbalance_ratio == 1.0


def test_scan_samples_large_folders(tmp_path):
    root = make_folder(tmp_path / "data", {"a": [(32, 32)] * 30, "b": [(40, 20)] * 30})
    s = scan_dataset(root, sample=10)
    assert s.sampled and s.sizes_read == 10 and s.n_images == 60


def test_scan_reads_train_val_splits(tmp_path):
    make_folder(tmp_path / "d" / "train", {"a": [(50, 50)] * 4, "b": [(50, 50)] * 2})
    make_folder(tmp_path / "d" / "val", {"a": [(50, 50)], "b": [(50, 50)]})
    s = scan_dataset(tmp_path / "d")
    assert s.n_images == 6 and s.splits == {"train": 6, "val": 2} and s.n_classes == 2
    assert s.imbalance_ratio == 2.0


@pytest.mark.parametrize("setup, message", [
    (lambda p: p / "missing", "does not exist"),
    (lambda p: (p / "f.txt").write_text("x") and p / "f.txt", "is a file"),
    (lambda p: (p / "flat").mkdir() or _image(p / "flat" / "x.png", (8, 8)) or p / "flat", "holds no class folders (found 1 loose images"),
    (lambda p: (p / "e" / "a").mkdir(parents=True) or p / "e", "class folders but no images"),
])
def test_scan_errors(tmp_path, setup, message):
    with pytest.raises(HootError, match=message.replace("(", r"\(")):
        scan_dataset(setup(tmp_path))


def test_per_group_learning_rates_are_data_the_trainer_can_read():
    """Issue 11.7: advise prints a head rate and a backbone rate; the trainer reads the same numbers."""
    from hoot.advisor.guidance import GROUP_LEARNING_RATES, build_guidance, group_learning_rates

    assert group_learning_rates("feature_extraction") == {"head": (1e-3, 1e-2), "backbone": None}
    assert group_learning_rates("top_layers") == {"head": (1e-3, 1e-2), "backbone": (1e-4, 1e-3)}
    assert group_learning_rates("full") == {"head": (1e-4, 1e-3), "backbone": (1e-4, 1e-3)}
    assert GROUP_LEARNING_RATES["top_layers"] == group_learning_rates("top_layers")
    # what advise prints for "top layers" is exactly these groups
    g = build_guidance(2500)
    line = next(x for x in g.lines() if x.startswith("Fine-tuning"))
    assert "learning rate 0.0001-0.001" in line and "new head 0.001-0.01" in line
    with pytest.raises(HootError, match="unknown strategy"):
        group_learning_rates("everything")
