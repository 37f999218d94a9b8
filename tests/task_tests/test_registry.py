"""The task registry: every task behind one interface, `--task auto` reads the layout, and an
ambiguous layout names its candidates."""

from __future__ import annotations

import pytest

from hoot.advisor.errors import HootError
from hoot.testing.images import make_imagefolder, make_segmentation
from hoot.trainer.tasks import available, detect_task, get_task, layout_matches
from hoot.trainer.tasks.base import Task


def test_every_registered_task_implements_the_interface():
    names = available()
    assert {"classification", "multilabel", "segmentation"} <= set(names)
    for name in names:
        task = get_task(name)
        assert isinstance(task, Task) and task.name == name and task.losses
        assert task.metric.direction in ("maximize", "minimize")


def test_unknown_task_names_the_choices():
    with pytest.raises(HootError, match=r"--task 'regression' is not one of auto, classification"):
        get_task("regression")


@pytest.mark.parametrize("layout, expected", [("masks", "images/ + masks/"), ("split", "train|val|test/"),
                                              ("voc", "Pascal VOC")])
def test_auto_finds_each_segmentation_layout(tmp_path, layout, expected):
    root = make_segmentation(tmp_path / layout, n=6, size=32, layout=layout)
    assert detect_task(root) == "segmentation"
    assert expected in next(m.layout for m in layout_matches(root) if m.specific)


def test_class_folders_stay_classification_and_tags_multilabel(tmp_path):
    root = make_imagefolder(tmp_path / "cls", per_class=3)
    assert detect_task(root) == "classification"
    (root / "labels.csv").write_text("image,labels\n")
    assert detect_task(root) == "multilabel"


def test_two_specific_layouts_are_ambiguous(tmp_path):
    root = make_segmentation(tmp_path / "both", n=4, size=32)
    (root / "labels.csv").write_text("image,labels\n")
    with pytest.raises(HootError, match=r"more than one layout: .*--task multilabel.*--task segmentation"):
        detect_task(root)
