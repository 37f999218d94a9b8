"""A run folder belongs to one run (issue 21): claimed atomically, never shared, never overwritten."""

from __future__ import annotations

from pathlib import Path

import pytest

from hoot.advisor.errors import HootError
from hoot.cli.main import main
from hoot.trainer.runfiles import claim_run_dir


def test_two_runs_started_in_the_same_second_get_two_folders(tmp_path: Path) -> None:
    first = claim_run_dir(tmp_path, "20261206-133000", chosen=False)
    second = claim_run_dir(tmp_path, "20261206-133000", chosen=False)
    assert (first, second) == ("20261206-133000", "20261206-133000-2")
    assert (tmp_path / second).is_dir()


def test_a_chosen_run_id_is_claimed_once(tmp_path: Path) -> None:
    claim_run_dir(tmp_path, "mine", chosen=True)
    with pytest.raises(HootError, match=r"--run-id 'mine': .* already exists.*--resume mine"):
        claim_run_dir(tmp_path, "mine", chosen=True)


def _data(tmp: Path) -> Path:
    from hoot.testing.images import make_imagefolder

    make_imagefolder(tmp / "data", per_class=5)
    return tmp / "data"


def _argv(tmp: Path, *extra: str) -> list[str]:
    return ["shortlist", str(tmp / "data"), "--candidates", "mobilenet_v3_small", "--no-pretrained",
            "--output", str(tmp / "out"), *extra]


def test_a_run_that_fails_before_its_settings_leaves_no_folder(tmp_path: Path, monkeypatch, capsys) -> None:
    _data(tmp_path)

    def fail(config, *a, **k):
        raise HootError("boom")

    monkeypatch.setattr("hoot.trainer.orchestration.shortlist.run_local", fail)
    assert main(_argv(tmp_path, "--run-id", "x")) == 2
    assert not (tmp_path / "out" / "x").exists()  # the same --run-id can be used again
    assert main(_argv(tmp_path, "--run-id", "x")) == 2
    assert "already exists" not in capsys.readouterr().err


def test_ctrl_c_prints_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    _data(tmp_path)

    def interrupted(config, *a, **k):
        (config.run_dir / "config.json").write_text("{}")
        raise KeyboardInterrupt

    monkeypatch.setattr("hoot.trainer.orchestration.shortlist.run_local", interrupted)
    assert main(_argv(tmp_path, "--run-id", "y")) == 130
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "--resume y" in err[0], err
