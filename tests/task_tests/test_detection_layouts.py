"""Detection layouts: COCO and YOLO read into the same boxes, each stated decision counted,
each bad input one HootError naming the file, and a seeded split stratified by class."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hoot.advisor.errors import HootError
from hoot.testing.detection_data import make_coco, make_yolo
from hoot.trainer.tasks.detection_layouts import (class_box_counts, detection_layouts, read_coco, read_detection,
                                                  read_yolo, split_detection)


def _coco(tmp_path, **kw):
    root = tmp_path / "coco"
    drawn = make_coco(root, **kw)
    return root, drawn, json.loads((root / "annotations.json").read_text())


def _rewrite(root, doc):
    (root / "annotations.json").write_text(json.dumps(doc))


def test_coco_and_yolo_give_the_known_boxes(tmp_path):
    root, drawn, _ = _coco(tmp_path, count=6)
    coco = read_detection(root)
    make_yolo(tmp_path / "yolo", count=6)
    yolo = read_detection(tmp_path / "yolo")
    assert coco.layout == "coco" and yolo.layout == "yolo"
    assert coco.classes == yolo.classes == ["red_circle", "green_square", "blue_triangle"]
    for a, b, d in zip(coco.images, yolo.images, drawn):
        assert a.boxes.dtype == np.float32 and a.labels.dtype == np.int64 and a.boxes.shape == (len(d.labels), 4)
        np.testing.assert_allclose(a.boxes, np.array(d.boxes, np.float32).reshape(-1, 4))
        np.testing.assert_allclose(b.boxes, a.boxes, atol=1e-3)  # normalised 6-digit round trip
        assert a.labels.tolist() == b.labels.tolist() == d.labels


def test_layouts_are_found(tmp_path):
    make_coco(tmp_path / "c", count=2)
    make_yolo(tmp_path / "y", count=2)
    (tmp_path / "none").mkdir()
    assert detection_layouts(tmp_path / "c") == ["coco"]
    assert detection_layouts(tmp_path / "y") == ["yolo"]
    assert detection_layouts(tmp_path / "none") == []
    with pytest.raises(HootError, match="not a detection layout"):
        read_detection(tmp_path / "none")


def test_given_annotations_file_and_images_folder(tmp_path):
    root = tmp_path / "d"
    make_coco(root / "images", count=3)
    (root / "images" / "annotations.json").rename(root / "boxes.json")
    data = read_detection(root, annotations=root / "boxes.json")
    assert len(data.images) == 3 and all("images" in im.path for im in data.images)


def test_annotations_file_picks_detection_and_travels_with_the_run(tmp_path):
    """--annotations FILE: `--task auto` reads detection from the file, and a run's config keeps it, so
    a resume or a run rebuilt from config.json alone (run_splits) reads the same boxes."""
    from hoot.trainer.config import ShortlistConfig
    from hoot.trainer.tasks.scanning import scan_dataset, scan_for
    from hoot.trainer.training.context import run_splits

    root = tmp_path / "d"
    make_coco(root / "images", count=12)
    (root / "images" / "annotations.json").rename(tmp_path / "boxes.json")
    scan = scan_dataset(root / "images", annotations=str(tmp_path / "boxes.json"))
    assert scan.task == "detection" and len(scan.train) + len(scan.val) + len(scan.test) == 12
    with pytest.raises(HootError, match="not a detection layout"):  # without the file, the folder says nothing
        scan_dataset(root / "images", task="detection")
    cfg = ShortlistConfig(data_dir=str(root / "images"), candidates=["ssdlite320_mobilenet_v3_large"],
                          annotations=str(tmp_path / "boxes.json"), output=str(tmp_path / "runs"), run_id="r")
    cfg.save()
    assert ShortlistConfig.load(cfg.run_dir / "config.json").annotations == str(tmp_path / "boxes.json")
    assert scan_for(cfg).train == scan.train
    assert run_splits(cfg.run_dir).test == tuple(scan.test)


def test_annotations_file_with_a_task_that_reads_none(tmp_path):
    from hoot.testing.images import make_imagefolder
    from hoot.trainer.tasks.scanning import scan_dataset

    make_imagefolder(tmp_path / "cls", per_class=4)
    with pytest.raises(HootError, match=r"--annotations '.*' is for --task detection, not --task classification") as err:
        scan_dataset(tmp_path / "cls", task="classification", annotations=str(tmp_path / "boxes.json"))
    assert "\n" not in str(err.value)


def test_category_ids_map_in_sorted_order(tmp_path):
    root, _, doc = _coco(tmp_path, count=3)
    for c in doc["categories"]:
        c["id"] *= 10
    for a in doc["annotations"]:
        a["category_id"] *= 10
    _rewrite(root, doc)
    data = read_coco(root)
    assert data.classes == ["red_circle", "green_square", "blue_triangle"]
    assert set(np.concatenate([im.labels for im in data.images]).tolist()) <= {0, 1, 2}


def test_crowd_dropped_and_counted(tmp_path):
    root, _, doc = _coco(tmp_path, count=4)
    doc["annotations"][0]["iscrowd"] = 1
    _rewrite(root, doc)
    data = read_coco(root)
    assert data.counts.crowd_dropped == 1
    assert data.num_boxes == len(doc["annotations"]) - 1
    assert any("crowd" in line for line in data.counts.log_lines())


def test_background_images_kept_and_counted(tmp_path):
    root, drawn, _ = _coco(tmp_path, count=6, background_every=3)
    data = read_coco(root)
    assert len(data.images) == 6 and data.counts.background_images == 2
    assert sum(im.is_background for im in data.images) == 2
    make_yolo(tmp_path / "y", count=6, background_every=3)
    yolo = read_yolo(tmp_path / "y")
    assert yolo.counts.background_images == 2


def test_boxes_outside_clipped_or_dropped(tmp_path):
    root, _, doc = _coco(tmp_path, count=2, size=64)
    image_id = doc["images"][0]["id"]
    doc["annotations"] = [
        {"id": 1, "image_id": image_id, "category_id": 1, "bbox": [50, 50, 30, 30], "iscrowd": 0},  # partly out
        {"id": 2, "image_id": image_id, "category_id": 1, "bbox": [70, 70, 10, 10], "iscrowd": 0},  # wholly out
        {"id": 3, "image_id": image_id, "category_id": 1, "bbox": [10, 10, 0, 5], "iscrowd": 0},  # zero width
    ]
    _rewrite(root, doc)
    data = read_coco(root)
    im = data.images[0]
    assert im.boxes.tolist() == [[50, 50, 64, 64]]
    assert (data.counts.boxes_clipped, data.counts.outside_dropped, data.counts.degenerate_dropped) == (1, 1, 1)


@pytest.mark.parametrize("mutate, message", [
    (lambda doc: doc.pop("annotations"), "is not a COCO detection file"),
    (lambda doc: doc["annotations"][0].__setitem__("category_id", 77), "category id 77"),
    (lambda doc: doc["annotations"][0].__setitem__("bbox", [1, 1, -3, 4]), "negative width"),
    (lambda doc: doc["images"][0].__setitem__("file_name", "gone.png"), "gone.png"),
])
def test_bad_coco(tmp_path, mutate, message):
    root, _, doc = _coco(tmp_path, count=3)
    mutate(doc)
    _rewrite(root, doc)
    with pytest.raises(HootError, match=message) as err:
        read_coco(root)
    assert "annotations.json" in str(err.value) and "\n" not in str(err.value)


def test_not_json_is_not_coco(tmp_path):
    root, _, _ = _coco(tmp_path, count=1)
    (root / "annotations.json").write_text("[1, 2")
    with pytest.raises(HootError, match="not a COCO detection file"):
        read_coco(root)


def test_yolo_four_fields(tmp_path):
    root = tmp_path / "y"
    make_yolo(root, count=3)
    (root / "labels" / "img_0001.txt").write_text("0 0.5 0.5 0.2\n")
    with pytest.raises(HootError, match=r"img_0001.txt' line 1 has 4 fields"):
        read_yolo(root)


def test_yolo_names_fewer_classes_than_labels(tmp_path):
    root = tmp_path / "y"
    make_yolo(root, count=4)
    (root / "data.yaml").write_text("names: [a, b]\n")
    with pytest.raises(HootError, match=r"data.yaml' names 2 classes but .* uses class 2"):
        read_yolo(root)


def test_yolo_negative_width_and_missing_names(tmp_path):
    root = tmp_path / "y"
    make_yolo(root, count=2)
    (root / "labels" / "img_0000.txt").write_text("0 0.5 0.5 -0.2 0.3\n")
    with pytest.raises(HootError, match="negative width"):
        read_yolo(root)
    (root / "data.yaml").unlink()
    with pytest.raises(HootError, match="no data.yaml"):
        read_yolo(root)


def test_yolo_names_as_list(tmp_path):
    root = tmp_path / "y"
    make_yolo(root, count=3)
    (root / "data.yaml").write_text("names: [r, g, b]\n")
    assert read_yolo(root).classes == ["r", "g", "b"]


def test_split_is_seeded_and_stratified(tmp_path):
    root, _, _ = _coco(tmp_path, count=30, background_every=5)
    data = read_coco(root)
    a = split_detection(data, 0.2, 0.2, seed=3)
    b = split_detection(data, 0.2, 0.2, seed=3)
    c = split_detection(data, 0.2, 0.2, seed=4)
    paths = lambda s: [[im.path for im in part] for part in s]  # noqa: E731
    assert paths(a) == paths(b) and paths(a) != paths(c)
    train, val, test = a
    assert len(train) + len(val) + len(test) == 30
    assert not set(paths(a)[0]) & set(paths(a)[2])
    for part in (val, test):  # every class (by its rarest-class stratum) reaches val and test
        assert all(n > 0 for n in class_box_counts(part, 3))
        assert any(im.is_background for im in part)


def test_yolo_given_split_folders_are_kept(tmp_path):
    root = tmp_path / "y"
    make_yolo(root, count=12)
    for sub in ("train", "val", "test"):
        (root / "images" / sub).mkdir()
        (root / "labels" / sub).mkdir()
    for i in range(12):
        sub = "val" if i < 3 else "test" if i < 6 else "train"
        (root / "images" / f"img_{i:04d}.png").rename(root / "images" / sub / f"img_{i:04d}.png")
        label = root / "labels" / f"img_{i:04d}.txt"
        if label.exists():
            label.rename(root / "labels" / sub / label.name)
    data = read_yolo(root)
    train, val, test = split_detection(data, 0.2, 0.2, seed=0)
    assert (len(train), len(val), len(test)) == (6, 3, 3)
    assert all("/val/" in im.path for im in val)


def test_too_few_images_for_the_split(tmp_path):
    root, _, _ = _coco(tmp_path, count=2)
    with pytest.raises(HootError, match="too few"):
        split_detection(read_coco(root), 0.2, 0.2, seed=0)
