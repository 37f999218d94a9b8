"""`hoot predict` takes a folder or a glob, and multi-label rows show --top tags, each said tagged or not
at the threshold (issue 21: --top 4 returned one tag, and there was no --threshold)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from hoot.advisor.errors import HootError
from hoot.bench.models import build_model
from hoot.trainer.deploy.predict import predict_images


@pytest.fixture
def run(tmp_path: Path) -> Path:
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"data_dir": "x", "run_id": "run"}))
    (folder / "bakeoff.json").write_text(json.dumps({"winner": "squeezenet1_1"}))
    (folder / "dataset.json").write_text(json.dumps({"classes": ["cat", "dog", "owl", "sky"]}))
    model = build_model("squeezenet1_1", task="multilabel", num_classes=4, pretrained=False)
    torch.save({"hoot_checkpoint": 1, "model": model.state_dict(), "variant": "squeezenet1_1", "task": "multilabel",
                "classes": ["cat", "dog", "owl", "sky"], "image_size": 32, "mean": [0.5] * 3, "std": [0.25] * 3,
                "run_id": "run"}, folder / "best.pt")
    from hoot.testing.images import make_imagefolder

    make_imagefolder(tmp_path / "imgs", per_class=1)
    return folder


def test_a_folder_and_a_glob_are_expanded(run: Path) -> None:
    imgs = run.parent / "imgs"
    by_folder = predict_images(run, [str(imgs)], top_k=1)
    by_glob = predict_images(run, [str(imgs / "*" / "*.png")], top_k=1)
    assert len({r["image"] for r in by_folder}) == 3 and {r["image"] for r in by_folder} == {r["image"] for r in by_glob}


def test_multilabel_shows_top_k_tags_each_marked(run: Path) -> None:
    rows = predict_images(run, [str(run.parent / "imgs")], top_k=4, threshold=1.0)
    assert len(rows) == 12 and not any(r["tagged"] for r in rows)  # 4 rows per image, none over 1.0
    rows = predict_images(run, [str(run.parent / "imgs")], top_k=4, threshold=0.0)
    assert all(r["tagged"] for r in rows)


def test_a_glob_matching_nothing_is_one_error(run: Path) -> None:
    with pytest.raises(HootError, match=r"pattern '.*nothing\*.png' matches no file"):
        predict_images(run, [str(run.parent / "nothing*.png")])


def test_the_threshold_is_selected_on_validation_labels() -> None:
    import numpy as np

    from hoot.trainer.tasks.label_metrics import best_threshold

    y = np.array([[1, 0], [1, 0], [0, 1], [0, 0]])
    probs = np.array([[0.3, 0.1], [0.25, 0.05], [0.1, 0.35], [0.05, 0.1]])  # positives sit near 0.3, not 0.5
    threshold = best_threshold(np.log(probs / (1 - probs)), y)
    assert 0.1 < threshold <= 0.25


def test_predict_tags_with_the_runs_threshold(run: Path) -> None:
    ckpt = torch.load(run / "best.pt", weights_only=True)
    torch.save({**ckpt, "threshold": 0.0}, run / "best.pt")
    assert all(r["tagged"] for r in predict_images(run, [str(run.parent / "imgs")], top_k=2))
