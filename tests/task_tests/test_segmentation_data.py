"""Segmentation layouts read into one dataset record; splits seeded and stratified by the classes
present; masks cached at the image size with nearest; masks move with the crop and flip."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from hoot.advisor.errors import HootError
from hoot.testing.images import SCENE_CLASSES, make_segmentation
from hoot.trainer.data.pipeline import augment, crop_masks, crop_rois
from hoot.trainer.tasks import get_task
from hoot.trainer.tasks.scanning import scan_dataset
from hoot.trainer.training.context import build_caches


def test_images_and_masks_layout(tmp_path):
    root = make_segmentation(tmp_path / "seg", n=20, size=32)
    scan = scan_dataset(root)
    assert scan.task == "segmentation" and scan.classes == list(SCENE_CLASSES)
    assert len(scan.train) + len(scan.val) + len(scan.test) == 20 and scan.val and scan.test
    every = scan.train + scan.val + scan.test
    assert all(s.target.endswith(".png") and "masks" in s.target for s in every)
    assert all(0 in s.label for s in every)  # background is present in every scene
    again = scan_dataset(root)
    assert [s.path for s in again.test] == [s.path for s in scan.test]  # seeded
    other = scan_dataset(root, seed=3)
    assert [s.path for s in other.test] != [s.path for s in scan.test]


def test_split_folders_are_kept(tmp_path):
    root = make_segmentation(tmp_path / "seg", n=9, size=32, layout="split")
    scan = scan_dataset(root)
    assert len(scan.train) == 9 and len(scan.val) == 3 and len(scan.test) == 3
    assert all("/val/" in s.path for s in scan.val) and all("/test/" in s.path for s in scan.test)


def test_voc_palette_masks_and_ignore(tmp_path):
    root = make_segmentation(tmp_path / "voc", n=10, size=32, layout="voc")
    (root / "JPEGImages" / "extra_without_mask.jpg").write_bytes((root / "JPEGImages" / "img_0000.jpg").read_bytes())
    scan = scan_dataset(root)
    assert scan.layout == "Pascal VOC" and len(scan.classes) == 21 and scan.classes[0] == "background"
    assert all(255 not in s.label for s in scan.train)  # the void border is not a class
    assert not any("extra_without_mask" in s.path for s in scan.train + scan.val + scan.test)  # VOC: no mask, not used
    train, _, _ = build_caches(scan, 32, tmp_path / "cache", progress=False)
    assert train.labels.shape == (len(scan.train), 32, 32) and train.labels.dtype == np.uint8
    assert (train.labels[:, 0, :] == 255).all()  # the ignore index survives the nearest resize


def test_masks_cached_nearest_in_the_images_geometry(tmp_path):
    root = make_segmentation(tmp_path / "seg", n=8, size=48)
    scan = scan_dataset(root)
    train, _, _ = build_caches(scan, 32, tmp_path / "cache", progress=False)
    values = set(np.unique(train.labels).tolist())
    assert values <= {0, 1, 2, 3}  # nearest: no blended class indices
    # the cached mask matches the mask file resized the same way
    m = np.asarray(Image.open(scan.train[0].target).resize((32, 32), Image.NEAREST))
    assert (m == train.labels[0]).mean() > 0.95


def test_no_classes_txt_names_classes_by_index_and_warns(tmp_path):
    root = make_segmentation(tmp_path / "seg", n=10, size=32, classes_txt=False)
    scan = scan_dataset(root)
    assert scan.classes[0] == "class_0" and any("classes.txt" in w for w in scan.warnings)


def test_masks_move_with_the_crop_and_flip():
    x = torch.zeros(6, 3, 24, 24)
    x[:, :, 4:14, 2:9] = 1.0
    masks = (x[:, 0] > 0).to(torch.uint8) * 2
    boxes = crop_rois(6, 24, torch.Generator().manual_seed(5))
    assert (boxes[:, 0] > boxes[:, 2]).any()  # some are mirrored
    img, msk = augment(x, None, boxes=boxes), crop_masks(masks, boxes)
    assert ((img[:, 0] > 0.5).to(torch.uint8) * 2 == msk).float().mean() > 0.97
    task_img, task_msk = get_task("segmentation").augment(x, masks, torch.Generator().manual_seed(5))
    assert torch.equal(task_img, img) and torch.equal(task_msk, msk)  # the task draws the same crops


def test_bad_masks_are_one_line_errors(tmp_path):
    root = make_segmentation(tmp_path / "seg", n=6, size=32)
    Image.new("L", (32, 16)).save(root / "masks" / "img_0001.png")
    with pytest.raises(HootError, match=r"is 32x16 but its image"):
        scan_dataset(root)


def test_predicted_masks_come_back_at_the_image_size(tmp_path):
    """A 48x32 image predicted at 32 px (the run's resize + centre crop): the mask PNG is 48x32, the
    centre 32x32 holds the prediction and the 8 columns each side the crop left out are 255."""
    import torch
    from PIL import Image

    from hoot.trainer.data.inputs import load_images
    from hoot.trainer.tasks import get_task
    from hoot.trainer.tasks.base import PredictOptions

    path = tmp_path / "wide.png"
    Image.fromarray(np.full((32, 48, 3), 200, np.uint8)).save(path)
    x = torch.from_numpy(load_images([str(path)], 32)).float() / 255

    class AllClassTwo(torch.nn.Module):
        def forward(self, x):
            logits = torch.zeros(x.shape[0], 4, x.shape[2], x.shape[3])
            logits[:, 2] = 1.0
            return logits

    (row,) = get_task("segmentation").predict(AllClassTwo(), x, [str(path)], ["bg", "a", "b", "c"],
                                              PredictOptions(out_dir=tmp_path / "pred"))
    mask = np.asarray(Image.open(row["mask"]))
    assert mask.shape == (32, 48)
    assert (mask[:, 8:40] == 2).all() and (mask[:, :8] == 255).all() and (mask[:, 40:] == 255).all()
    assert row["classes"] == "b" and row["foreground_fraction"] == 1.0 and abs(row["predicted_fraction"] - 2 / 3) < 1e-6
    assert np.asarray(Image.open(row["overlay"])).shape == (32, 48, 3)
