"""One run locator: every command that takes a run finds the same folder by id (through the run
index, wherever --output put it) and by path (hoot.trainer.runfiles.locate_run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hoot.advisor.errors import HootError
from hoot.cli.main import main
from hoot.trainer.config import ShortlistConfig
from hoot.trainer.runfiles import locate_run, remember_run


@pytest.fixture
def elsewhere_run(tmp_path) -> Path:
    """A run folder made with a custom --output, recorded in the index (config.json + a best.pt)."""
    config = ShortlistConfig(data_dir=str(tmp_path / "data"), candidates=["resnet18"], output=str(tmp_path / "custom"),
                             run_id="run7")
    config.save()
    (config.run_dir / "best.pt").write_bytes(b"")
    remember_run("run7", config.run_dir)
    return config.run_dir.resolve()


def _seen_by(monkeypatch, module: str, function: str, seen: list[Path], pick) -> None:
    """Replace the command's work with a recorder of the run folder it was handed."""
    import importlib

    def record(*args, **kwargs):
        seen.append(Path(pick(*args, **kwargs)).resolve())
        raise HootError("recorded")

    monkeypatch.setattr(importlib.import_module(module), function, record)


COMMANDS = [
    (["predict", "{run}", "x.png"], "hoot.trainer.deploy.predict", "predict_images", lambda run_dir, *a, **k: run_dir),
    (["export", "{run}"], "hoot.trainer.deploy.export", "export_run", lambda run_dir, *a, **k: run_dir),
    (["optimize", "{run}"], "hoot.trainer.deploy.optimize.run", "optimize_run", lambda run_dir, *a, **k: run_dir),
    (["report", "{run}"], "hoot.trainer.report", "write_report", lambda run_dir, *a, **k: run_dir),
    (["shortlist", "--resume", "{run}"], "hoot.trainer.orchestration.shortlist", "run_local",
     lambda config, *a, **k: config.run_dir),
]


@pytest.mark.parametrize("argv, module, function, pick", COMMANDS, ids=[c[0][0] for c in COMMANDS])
def test_every_command_finds_the_same_folder_by_id_and_by_path(argv, module, function, pick, elsewhere_run, tmp_path,
                                                                monkeypatch, capsys):
    seen: list[Path] = []
    _seen_by(monkeypatch, module, function, seen, pick)
    for run in ("run7", str(elsewhere_run)):
        args = [a.replace("{run}", run) for a in argv] + ["--output", str(tmp_path / "other")]
        assert main(args) == 2
        assert "recorded" in capsys.readouterr().err
    assert seen == [elsewhere_run, elsewhere_run]


def test_locate_run_says_which_option_and_what_is_missing(tmp_path, elsewhere_run):
    with pytest.raises(HootError, match=r"^--resume nope: run 'nope' not found"):
        locate_run("nope", str(tmp_path), option="--resume")
    (elsewhere_run / "best.pt").unlink()
    assert locate_run("run7") == elsewhere_run  # a run without best.pt is still a run (report, --resume)
    with pytest.raises(HootError, match="has no best.pt yet"):
        locate_run("run7", trained=True)


@pytest.mark.parametrize("argv", [["shortlist", "{path}", "--candidates", "resnet18", "--no-pretrained"],
                                  ["advise", "--dataset", "{path}"]], ids=["shortlist", "advise"])
def test_a_missing_or_file_folder_reads_the_same_in_every_command(argv, tmp_path, capsys):
    """One folder check (hoot.advisor.paths.existing_folder): one wording for the same mistake."""
    (tmp_path / "f.txt").write_text("x")
    for path, says in ((tmp_path / "missing", "does not exist; pass a folder with one sub-folder of images per class"),
                       (tmp_path / "f.txt", "is a file, not a folder; pass a folder with one sub-folder of images")):
        assert main([a.replace("{path}", str(path)) for a in argv] + (
            ["--output", str(tmp_path / "out")] if argv[0] == "shortlist" else [])) == 2
        err = capsys.readouterr().err
        assert err.startswith("hoot: error:") and says in err and err.count("\n") == 1, err
