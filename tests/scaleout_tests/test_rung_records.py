"""Rung results through a study: workers store RungResult.to_dict() (flat, as hoot always did), and
the coordinator reads records back, also from trials an older hoot wrote as dicts."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from optuna.trial import TrialState

from hoot.advisor.errors import HootError
from hoot.advisor.metric import Metric
from hoot.testing import toy_engine
from hoot.trainer.orchestration.scaleout import study as st
from hoot.trainer.training.rung_result import RungResult
from hoot.trainer.orchestration.scaleout import load_engine
from hoot.trainer.orchestration.engine import Engine
from hoot.trainer.orchestration.scaleout.executor import StudyExecutor
from hoot.trainer.orchestration.scaleout.rung import train_next_rung, value_of

TOP1 = Metric.named("val_top1")


def _study(tmp_path, name="s"):
    bake, _ = st.create_or_load(st.open_storage(f"sqlite:///{tmp_path / 'q.db'}"), name, TOP1, {})
    return bake


def _toy_ctx(tmp_path):
    config = SimpleNamespace(output=str(tmp_path / "out"), run_id="r", candidates=["a", "b"], seed=0, eta=2)
    return toy_engine.prepare(config)


def test_a_worker_stores_the_flat_dict_and_the_coordinator_reads_a_record(tmp_path):
    bake, ctx = _study(tmp_path), _toy_ctx(tmp_path)
    engine = load_engine("hoot.testing.toy_engine")
    st.add_work(bake, ["a", "b"], "a", 0)
    assert train_next_rung(bake, engine, ctx, TOP1) is True
    (trial,) = bake.rung_trials((TrialState.COMPLETE,))
    stored = trial.user_attrs["metrics"]
    expected = toy_engine.train_rung(ctx, "a", 0)
    assert stored == expected.to_dict() and stored["candidate"] == "a" and "metrics" not in stored
    assert trial.value == expected.metric("val_top1") == value_of(expected, TOP1)
    executor = StudyExecutor(bake, engine, TOP1, train_here=False)
    done, pending, errors = executor._work_state(["a"], 0)
    assert done == {"a": expected} and pending == [] and errors == {}


def test_trials_an_older_hoot_wrote_as_dicts_are_read_as_records(tmp_path):
    bake = _study(tmp_path)
    old = {"a": {"val_top1": 0.3, "val_loss": 0.7, "rung": 0, "status": "ok"},  # the old toy engine's dict
           "b": None}  # no metrics attribute at all: only the trial's value
    for name in old:
        st.add_work(bake, ["a", "b"], name, 0)

    def objective(trial):
        name = trial.params["candidate"]
        if old[name]:
            trial.set_user_attr("metrics", old[name])
        return 0.3 if name == "a" else 0.6

    while st.run_next_rung(bake, objective):
        pass
    engine = load_engine("hoot.testing.toy_engine")
    results = StudyExecutor(bake, engine, TOP1, train_here=False)(SimpleNamespace(), ["a", "b"], 0)
    assert results["a"] == RungResult("a", 0, metrics={"val_top1": 0.3, "val_loss": 0.7})
    assert results["b"].candidate == "b" and results["b"].metric("val_top1") == 0.6
    assert toy_engine.promote(results, 2, "val_top1") == ["b"]
    reported = {t.params["candidate"]: t.user_attrs["rung_0"] for t in bake.candidate_trials()}
    assert reported["a"]["val_top1"] == 0.3 and reported["a"]["candidate"] == "a"  # flat, as before


def test_an_engine_returning_a_dict_fails_its_rung_with_a_clear_error(tmp_path):
    bake, ctx = _study(tmp_path), _toy_ctx(tmp_path)
    toy = load_engine("hoot.testing.toy_engine")
    engine = Engine(prepare=toy.prepare, train_rung=lambda c, n, r: {"val_top1": 0.5}, run_bakeoff=toy.run_bakeoff,
                    finetune=toy.finetune, name="dicts")
    st.add_work(bake, ["a"], "a", 0)
    assert train_next_rung(bake, engine, ctx, TOP1) is True
    (trial,) = bake.rung_trials((TrialState.FAIL,))
    assert "not a RungResult" in trial.user_attrs["error"]
    done = StudyExecutor(bake, engine, TOP1, train_here=False)(ctx, ["a"], 0)
    assert not done["a"].ok and "not a RungResult" in done["a"].error


def test_an_unreadable_stored_result_names_the_trial(tmp_path):
    bake = _study(tmp_path)
    st.add_work(bake, ["a"], "a", 0)
    st.run_next_rung(bake, lambda t: t.set_user_attr("metrics", {"status": "finished"}) or 0.5)
    with pytest.raises(HootError, match=r"a rung 0\) holds a result hoot cannot read"):
        StudyExecutor(bake, load_engine("hoot.testing.toy_engine"), TOP1, train_here=False)._work_state(["a"], 0)
