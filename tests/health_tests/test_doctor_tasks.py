"""hoot doctor on the segmentation and detection layouts (issue 20: "detection and segmentation once
those land"): the same image checks, duplicates and leaks; the splits hoot draws keep copies on one
side; the label check says why it does not apply to masks and boxes."""

from __future__ import annotations

import json
import shutil

from hoot.testing.detection_data import make_coco
from hoot.testing.images import make_segmentation
from hoot.trainer.health.doctor import DoctorOptions, run_doctor
from hoot.trainer.health.hashing import HashIndex
from hoot.trainer.tasks.scanning import scan_dataset


def _split_of(scan, path: str) -> str:
    return next(name for name, samples in scan.split_items() for s in samples if s.path == path)


def test_segmentation_copies_found_and_kept_on_one_side(tmp_path):
    data = make_segmentation(tmp_path / "seg", n=24, size=32)
    shutil.copyfile(data / "images" / "img_0003.png", data / "images" / "copy.png")
    shutil.copyfile(data / "masks" / "img_0003.png", data / "masks" / "copy.png")
    report = run_doctor(data, DoctorOptions())
    assert report.task == "segmentation"
    pair = frozenset((str(data / "images" / "img_0003.png"), str(data / "images" / "copy.png")))
    assert pair in {frozenset(f.paths) for f in report.of_kind("exact-duplicate")}
    assert not report.label_check.ran and "masks or boxes" in report.label_check.reason
    for seed in range(4):  # whichever way the draw falls, the copy and its original share a split
        scan = scan_dataset(data, seed=seed, grouper=HashIndex().groups)
        assert _split_of(scan, str(data / "images" / "copy.png")) == _split_of(scan, str(data / "images" / "img_0003.png"))


def test_detection_copies_found_and_kept_on_one_side(tmp_path):
    root = tmp_path / "coco"
    make_coco(root, count=16, size=64)
    doc = json.loads((root / "annotations.json").read_text())
    first = doc["images"][0]
    shutil.copyfile(root / first["file_name"], root / "copy.png")
    new_id = max(im["id"] for im in doc["images"]) + 1
    doc["images"].append({**first, "id": new_id, "file_name": "copy.png"})
    doc["annotations"] += [{**a, "id": 10_000 + i, "image_id": new_id}
                           for i, a in enumerate(a for a in doc["annotations"] if a["image_id"] == first["id"])]
    (root / "annotations.json").write_text(json.dumps(doc))
    report = run_doctor(root, DoctorOptions())
    assert report.task == "detection"
    assert frozenset((str(root / first["file_name"]), str(root / "copy.png"))) in {
        frozenset(f.paths) for f in report.of_kind("exact-duplicate")}
    assert not report.label_check.ran
    for seed in range(4):
        scan = scan_dataset(root, seed=seed, grouper=HashIndex().groups)
        assert _split_of(scan, str(root / "copy.png")) == _split_of(scan, str(root / first["file_name"]))
