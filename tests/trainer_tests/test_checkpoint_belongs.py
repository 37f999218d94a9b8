"""best.pt must be its own run's (issue 21): run id, settings fingerprint, model and classes checked on load."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from hoot.advisor.errors import HootError
from hoot.trainer.config import ShortlistConfig
from hoot.trainer.deploy.trained import check_belongs


def _run(tmp: Path, config: ShortlistConfig) -> Path:
    config.save(resolved={"image_size": 32})
    (config.run_dir / "dataset.json").write_text(json.dumps({"classes": ["a", "b"]}))
    (config.run_dir / "bakeoff.json").write_text(json.dumps({"winner": "resnet18"}))
    return config.run_dir


def _ckpt(config: ShortlistConfig) -> dict:
    return {"variant": "resnet18", "classes": ["a", "b"], "run_id": config.run_id,
            "config_fingerprint": config.fingerprint()}


def test_its_own_checkpoint_loads_even_after_the_folder_moved(tmp_path: Path) -> None:
    config = ShortlistConfig(data_dir="d", candidates=["resnet18"], output=str(tmp_path / "a"), run_id="r")
    ckpt = _ckpt(config)
    moved = dataclasses.replace(config, output=str(tmp_path / "b"))  # --resume rewrites output
    check_belongs(_run(tmp_path, moved), ckpt)


def test_same_run_id_other_settings_is_refused(tmp_path: Path) -> None:
    mine = ShortlistConfig(data_dir="d", candidates=["resnet18"], output=str(tmp_path), run_id="r")
    theirs = dataclasses.replace(mine, data_dir="other", seed=7)
    with pytest.raises(HootError, match=r"belongs to another run \(other settings\)"):
        check_belongs(_run(tmp_path, mine), _ckpt(theirs))


def test_checkpoints_from_before_the_fingerprint_still_load(tmp_path: Path) -> None:
    config = ShortlistConfig(data_dir="d", candidates=["resnet18"], output=str(tmp_path), run_id="r")
    check_belongs(_run(tmp_path, config), {"variant": "resnet18", "classes": ["a", "b"]})
