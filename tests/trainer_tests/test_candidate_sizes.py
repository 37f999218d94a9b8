"""A candidate that cannot run at the training size is found before any image is decoded (one forward
on the meta device): a one-line error when the user chose the size, a larger size when hoot did."""

from __future__ import annotations

import pytest

from hoot.advisor.catalog import load_catalog
from hoot.advisor.errors import HootError
from hoot.testing.images import make_imagefolder, tiny_config
from hoot.trainer.tasks import get_task
from hoot.trainer.training.context import size_every_candidate_takes


def test_a_size_every_candidate_takes_is_kept(tmp_path):
    config = tiny_config(make_imagefolder(tmp_path / "d", per_class=4), tmp_path / "out",
                         candidates=["resnet18", "mobilenet_v3_small"], image_size=32)
    assert size_every_candidate_takes(config, load_catalog(), get_task("classification"), 3, 32) == 32


def test_a_chosen_size_too_small_is_one_line_naming_a_size_that_works(tmp_path):
    config = tiny_config(make_imagefolder(tmp_path / "d", per_class=4), tmp_path / "out",
                         candidates=["resnet18", "inception_v4"], image_size=32)
    with pytest.raises(HootError, match=r"--image-size 32: inception_v4 cannot run at 32 px \(.+\); "
                                         r"pass --image-size \d+ or drop inception_v4") as err:
        size_every_candidate_takes(config, load_catalog(), get_task("classification"), 3, 32)
    assert "\n" not in str(err.value)


def test_a_size_hoot_chose_grows_to_one_every_candidate_takes(tmp_path, caplog):
    config = tiny_config(make_imagefolder(tmp_path / "d", per_class=4), tmp_path / "out",
                         candidates=["resnet18", "inception_v4"], image_size=None)
    with caplog.at_level("WARNING", logger="hoot"):
        size = size_every_candidate_takes(config, load_catalog(), get_task("classification"), 3, 40)
    assert size > 40 and "inception_v4 cannot run at 40 px" in caplog.text
    assert size_every_candidate_takes(config, load_catalog(), get_task("classification"), 3, size) == size
