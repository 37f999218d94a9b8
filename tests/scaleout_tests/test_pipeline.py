"""The scale-out's shared pieces on their own: one pipeline, the run's phases, configs not changed,
Optuna's global state left alone, storages refused before a file is made."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import torch

from hoot.advisor.errors import HootError
from hoot.testing import toy_engine
from hoot.testing.processes import toy_config
from hoot.trainer.orchestration.scaleout import study as st
from hoot.trainer.config import ShortlistConfig
from hoot.trainer.orchestration.scaleout import RunPhase, ScaleoutOptions, load_engine, run_pipeline, run_shortlist
from hoot.trainer.orchestration.scaleout.launch import _rank_config
from hoot.trainer.orchestration.pipeline import Stages
from hoot.trainer.orchestration.scaleout.worker import worker_config


class Recording(Stages):
    def __init__(self) -> None:
        super().__init__()
        self.phases: list[RunPhase] = []
        self.winner = None

    def phase(self, phase: RunPhase) -> None:
        self.phases.append(phase)

    def bakeoff_done(self, ctx, winner, table, bakeoff_s) -> None:
        self.winner = winner


def test_the_pipeline_runs_its_phases_in_order_and_resumes_the_finetune(toy_data, tmp_path):
    config = ShortlistConfig.from_dict(toy_config(toy_data, tmp_path / "out"))
    stages = Recording()
    result = run_pipeline(config, load_engine("hoot.testing.toy_engine"), None, stages)
    assert stages.phases == [RunPhase.PREPARING, RunPhase.BAKEOFF, RunPhase.FINETUNE, RunPhase.REPORT]
    assert result.winner == stages.winner == toy_engine.run_bakeoff(toy_engine.prepare(config))["winner"]
    saved = json.loads((tmp_path / "out" / "run" / "finetune.json").read_text())
    assert saved == result.finetune and saved["winner"] == result.winner

    class NoFinetune(Recording):
        def finetune(self, engine, ctx, winner, run_dir):
            raise AssertionError("finetune.json exists: the fine-tune must not run again")

    again = run_pipeline(config, load_engine("hoot.testing.toy_engine"), None, NoFinetune())
    assert again.finetune == result.finetune


def test_run_phase_is_stored_by_value_and_read_back():
    assert json.loads(json.dumps({"phase": RunPhase.FINETUNE.value})) == {"phase": "finetune"}
    assert RunPhase.of("finetune") is RunPhase.FINETUNE and RunPhase.of(None) is RunPhase.BAKEOFF
    assert RunPhase.of("garbage") is RunPhase.FAILED
    assert [p.value for p in RunPhase if p.wants_workers] == ["preparing", "bakeoff"]
    assert not RunPhase.FAILED.has_winner and RunPhase.DONE.has_winner


def test_roles_change_copies_of_the_config_never_the_config(toy_data, tmp_path):
    config = ShortlistConfig.from_dict(toy_config(toy_data, tmp_path / "out", device="auto", num_threads=None))
    before = config.to_dict()
    mine = worker_config(config, "lab")
    assert mine.output.endswith("lab-workers") and mine.run_id != config.run_id
    threads = torch.get_num_threads()
    try:
        ranked = _rank_config(config, torch.device("cpu"))
    finally:
        torch.set_num_threads(threads)
    assert ranked.device == "cpu" and ranked.num_threads >= 1
    assert config.to_dict() == before


def test_importing_the_orchestration_leaves_optuna_and_warnings_alone():
    # the libraries first (some add warning filters of their own), then hoot's orchestration alone
    code = ("import warnings, optuna, sqlalchemy, torch, torchvision; "
            "v = optuna.logging.get_verbosity(); f = list(warnings.filters); "
            "import hoot.trainer.orchestration.scaleout.study, hoot.trainer.orchestration.scaleout, hoot.trainer.orchestration.scaleout.distributed, hoot.trainer.orchestration.shortlist; "
            "assert optuna.logging.get_verbosity() == v, 'verbosity changed'; "
            "assert list(warnings.filters) == f, 'warnings filters changed'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_a_run_restores_optunas_verbosity(toy_data, tmp_path):
    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.INFO)
    try:
        run_shortlist(ShortlistConfig.from_dict(toy_config(toy_data, tmp_path / "out")), {},
                      engine=load_engine("hoot.testing.toy_engine"))
        assert optuna.logging.get_verbosity() == optuna.logging.INFO
    finally:
        optuna.logging.set_verbosity(before)


@pytest.mark.parametrize("storage", ["notaurl", "runs/study", "study.db", " "])
def test_a_storage_that_is_neither_url_nor_journal_is_refused_before_any_file(storage, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(HootError, match=r"is not a storage: use sqlite:///PATH.db, postgresql://"):
        ScaleoutOptions.from_dict({"storage": storage})
    with pytest.raises(HootError, match="is not a storage"):
        st.open_storage(storage, create=True)
    assert list(tmp_path.iterdir()) == []


def test_journal_files_are_accepted_by_their_ending(tmp_path):
    for name in ("a.journal", "b.log"):
        ScaleoutOptions.from_dict({"storage": str(tmp_path / name)})
        st.open_storage(str(tmp_path / name), create=True)
        assert (tmp_path / name).is_file()


def test_the_engine_metric_decides_the_study_direction(tmp_path):
    from hoot.advisor.metric import Metric

    storage = st.open_storage(f"sqlite:///{tmp_path / 'd.db'}")
    bake, _ = st.create_or_load(storage, "loss", Metric.named("val_loss"), {})
    assert bake.main.direction == optuna.study.StudyDirection.MINIMIZE
    assert bake.rungs.direction == optuna.study.StudyDirection.MINIMIZE
    engine = load_engine("hoot.testing.toy_engine")
    assert engine.metric(dataclasses.make_dataclass("C", [("metric", str)])("val_top1")) == Metric("val_top1", "maximize")


def test_opening_an_rdb_storage_keeps_hoots_loggers_enabled(tmp_path, monkeypatch):
    """Optuna's schema migration runs alembic's env.py, which calls logging.config.fileConfig when
    the root logger has no handler (as under the `hoot` CLI) and so disables every existing
    logger: hoot's progress lines must survive it. The migration is simulated by a storage
    constructor that configures logging the way fileConfig does (disable_existing_loggers)."""
    import logging
    import logging.config

    import optuna

    from hoot.trainer.orchestration.scaleout.optuna_storage import open_storage

    real = optuna.storages.RDBStorage

    def migrating_storage(*args, **kwargs):
        logging.config.dictConfig({"version": 1, "disable_existing_loggers": True})
        return real(*args, **kwargs)

    progress = logging.getLogger("hoot.trainer.training.context")
    other = logging.getLogger("some.library")
    other.disabled = False
    monkeypatch.setattr(optuna.storages, "RDBStorage", migrating_storage)
    try:
        open_storage(f"sqlite:///{tmp_path / 'study.db'}", create=True)
        assert progress.disabled is False and other.disabled is False
    finally:
        progress.disabled = False


def test_a_claimed_rung_has_a_heartbeat_before_its_work_starts(tmp_path, monkeypatch):
    """Optuna's fail_stale_trials skips a RUNNING trial with no heartbeat; its heartbeat thread beats
    only once scheduled. Here that thread never beats (as when the worker is killed first): the rung
    must still be noticed as stale by another process once the grace period is over."""
    import contextlib
    import time

    from optuna.trial import TrialState

    from hoot.advisor.metric import Metric
    from hoot.trainer.orchestration.scaleout.optuna_storage import GRACE_BEATS

    monkeypatch.setattr(optuna.study._optimize, "get_heartbeat_thread", lambda *a, **k: contextlib.nullcontext())
    url = f"sqlite:///{tmp_path / 'd.db'}"
    bake, _ = st.create_or_load(st.open_storage(url, heartbeat_s=1), "s", Metric.named("val_top1"), {}, heartbeat_s=1)
    st.add_work(bake, ["m1"], "m1", 0)
    other = st.load(st.open_storage(url, create=False, heartbeat_s=1), "s", heartbeat_s=1)

    class Killed(BaseException):
        """Leaves Optuna's trial loop without a tell, like SIGKILL."""

    def objective(trial) -> float:
        time.sleep(GRACE_BEATS + 1.2)  # past the grace period (heartbeat 1 s; SQLite keeps whole seconds), no beat
        raise Killed

    with pytest.raises(Killed):
        st.run_next_rung(bake, objective)
    st.fail_stale(other)  # what another worker's poller does
    assert other.rung_trials()[0].state == TrialState.FAIL


def test_two_coordinators_in_one_second_get_their_own_run_folders(toy_data, tmp_path, monkeypatch):
    """Issue 21: a coordinator without --run-id claims its folder atomically, as a local run does; two
    started in the same second (the same timestamp id) land in ID and ID-2, each with its own journal."""
    import time

    from hoot.cli.main import main
    from hoot.trainer.orchestration import scaleout

    real_strftime = time.strftime
    monkeypatch.setattr(time, "strftime",
                        lambda fmt, *a: "20260101-000000" if fmt == "%Y%m%d-%H%M%S" and not a else real_strftime(fmt, *a))
    monkeypatch.setattr(scaleout, "default_engine", lambda: load_engine("hoot.testing.toy_engine"))
    args = ["shortlist", str(toy_data), "--candidates", "a,b", "--no-pretrained", "--output", str(tmp_path / "out")]
    assert main([*args, "--study", "first"]) == 0
    assert main([*args, "--study", "second"]) == 0
    folders = sorted(p.name for p in (tmp_path / "out").iterdir() if p.is_dir())
    assert folders == ["20260101-000000", "20260101-000000-2"]
    assert all((tmp_path / "out" / f / "study.journal").is_file() for f in folders)
