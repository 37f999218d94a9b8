"""The scale-out coordination on real Optuna storages, with a toy engine (milliseconds per rung)."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import time
import uuid
from collections import Counter
from pathlib import Path

import optuna
import pytest
from hoot.testing.processes import executions, spawn_toy, toy_config, toy_env
from optuna.trial import TrialState

from hoot.testing import toy_engine
from hoot.advisor.errors import HootError
from hoot.advisor.metric import Metric
from hoot.trainer.orchestration.scaleout import study as st
from hoot.trainer.config import ShortlistConfig
from hoot.trainer.orchestration.scaleout import ScaleoutOptions, load_engine, run_shortlist


def _plain_run(config: dict) -> dict:
    """The toy bake-off in one process without any study (not logged: the log counts study runs)."""
    saved = os.environ.pop("HOOT_TOY_LOG", None)
    try:
        cfg = ShortlistConfig.from_dict({**config, "output": str(Path(config["output"]).parent / "plain")})
        return toy_engine.run_bakeoff(toy_engine.prepare(cfg))
    finally:
        if saved is not None:
            os.environ["HOOT_TOY_LOG"] = saved


def single_process_winner(config: dict) -> str:
    return _plain_run(config)["winner"]


def wait_all(procs, timeout: float = 60.0) -> list[int]:
    """Exit codes of procs; whatever still runs at the deadline (or on a failure) is killed."""
    deadline = time.monotonic() + timeout
    try:
        return [p.wait(timeout=max(1.0, deadline - time.monotonic())) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def done_counts(log: Path, *coordinators) -> Counter:
    """How often each (candidate, rung) finished, outside the coordinator processes given."""
    pids = tuple(p.pid for p in coordinators)
    return Counter((c, r) for e, c, r in executions(log, pids) if e == "done")


def expected_rungs(config: dict) -> set[tuple[str, int]]:
    result = _plain_run(config)
    return {(c, int(r)) for r, res in result["rungs"].items() for c in res}


# ---------------------------------------------------------------- embedded default (journal file)


def test_embedded_default_writes_a_journal_study_and_matches_single_process(toy_data, tmp_path, monkeypatch):
    log = tmp_path / "log"
    monkeypatch.setenv("HOOT_TOY_LOG", str(log))
    config = toy_config(toy_data, tmp_path / "out")
    out = run_shortlist(ShortlistConfig.from_dict(config), {"nproc": 1}, engine=load_engine("hoot.testing.toy_engine"))
    assert out["winner"] == single_process_winner(config)
    journal = tmp_path / "out" / "run" / "study.journal"
    assert journal.is_file()
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    main = optuna.load_study(study_name=out["study"], storage=storage)
    states = Counter(t.state for t in main.trials)
    winner_trial = next(t for t in main.trials if t.params["candidate"] == out["winner"])
    # the toy halving keeps 4 → 2 → 1: three candidates dropped (pruned), the winner completed
    assert len(main.trials) == 4 and states[TrialState.PRUNED] == 3 and winner_trial.state == TrialState.COMPLETE
    assert sorted(winner_trial.intermediate_values) == [0, 1, 2]
    assert winner_trial.user_attrs["winner"] is True
    assert main.user_attrs["phase"] == "done" and main.user_attrs["winner"] == out["winner"]
    assert set(done_counts(log)) == expected_rungs(config) and max(done_counts(log).values()) == 1

    # run again: the study is found (same data and settings → same name) and nothing is retrained
    log.unlink()
    again = run_shortlist(ShortlistConfig.from_dict(config), {"nproc": 1}, engine=load_engine("hoot.testing.toy_engine"))
    assert again["winner"] == out["winner"] and again["study"] == out["study"]
    assert executions(log) == []


def test_a_candidate_that_fails_costs_its_row_not_the_run(toy_data, tmp_path, monkeypatch):
    monkeypatch.setenv("HOOT_TOY_FAIL", "m4")  # the toy's best candidate
    config = ShortlistConfig.from_dict(toy_config(toy_data, tmp_path / "out"))
    out = run_shortlist(config, {"study": "s1"}, engine=load_engine("hoot.testing.toy_engine"))
    assert out["winner"] != "m4"
    bake = st.load(st.open_storage(str(tmp_path / "out" / "run" / "study.journal"), create=False), "s1")
    failed = [t for t in bake.rung_trials() if t.state == TrialState.FAIL]
    assert [t.params["candidate"] for t in failed] == ["m4"]
    assert failed[0].user_attrs["error"] == "RuntimeError: toy failure in m4"
    rows = {r["candidate"]: r for r in run_shortlist(None, {"storage": str(tmp_path / "out" / "run" / "study.journal"),
                                                              "study": "s1", "status": True})}
    assert rows["m4"]["state"].startswith("failed rung 0: RuntimeError")


# ---------------------------------------------------------------- sqlite: one machine, separate processes


def test_sqlite_storage_coordinator_and_worker_processes(toy_data, tmp_path):
    log = tmp_path / "log"
    url = f"sqlite:///{tmp_path / 'bakeoff.db'}"
    config = toy_config(toy_data, tmp_path / "out")
    env = toy_env(log, rung_s=0.2)
    coord = spawn_toy(config, {"storage": url, "study": "lab"}, env, "coord", tmp_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not ((tmp_path / "coord.err").is_file()
                                               and "created in" in (tmp_path / "coord.err").read_text()):
        time.sleep(0.1)  # the study exists (the coordinator says so), not just its file
    worker = spawn_toy(config, {"storage": url, "study": "lab", "worker": True}, env, "w1", tmp_path)
    assert wait_all([coord, worker]) == [0, 0], (tmp_path / "coord.err").read_text() + (tmp_path / "w1.err").read_text()
    result = json.loads((tmp_path / "coord.out").read_text())
    assert result["winner"] == single_process_winner(config)
    assert set(done_counts(log, coord)) == expected_rungs(config) and max(done_counts(log, coord).values()) == 1
    summary = json.loads((tmp_path / "w1.out").read_text())
    assert summary["rungs_trained"] == len(expected_rungs(config))


# ---------------------------------------------------------------- PostgreSQL: several workers


def test_two_workers_share_the_bakeoff_each_rung_once(toy_data, tmp_path, shared_url, study_name):
    log = tmp_path / "log"
    config = toy_config(toy_data, tmp_path / "out")
    env = toy_env(log, rung_s=0.5)
    opts = {"storage": shared_url, "study": study_name}
    coord = spawn_toy(config, opts, env, "coord", tmp_path)
    _wait_for_study(shared_url, study_name)
    workers = [spawn_toy(config, {**opts, "worker": True}, env, f"w{i}", tmp_path) for i in (1, 2)]
    codes = wait_all([coord, *workers])
    assert codes == [0, 0, 0], _logs(tmp_path)
    result = json.loads((tmp_path / "coord.out").read_text())
    assert result["winner"] == single_process_winner(config)
    counts = done_counts(log, coord)
    assert set(counts) == expected_rungs(config) and max(counts.values()) == 1
    trained = [json.loads((tmp_path / f"w{i}.out").read_text())["rungs_trained"] for i in (1, 2)]
    assert sum(trained) == len(expected_rungs(config)) and min(trained) >= 1  # both workers took rungs
    bake = st.load(st.open_storage(shared_url, create=False), study_name)
    assert all(t.state == TrialState.COMPLETE for t in bake.rung_trials())
    assert bake.attrs()["phase"] == "done"


def test_worker_killed_mid_rung_is_noticed_and_its_rung_rerun(toy_data, tmp_path, shared_url, study_name):
    log = tmp_path / "log"
    config = toy_config(toy_data, tmp_path / "out")
    env = toy_env(log, rung_s=2.0, heartbeat_s=1)
    opts = {"storage": shared_url, "study": study_name}
    coord = spawn_toy(config, opts, env, "coord", tmp_path)
    _wait_for_study(shared_url, study_name)
    victim = spawn_toy(config, {**opts, "worker": True}, env, "victim", tmp_path)
    deadline = time.monotonic() + 30
    while not [e for e in executions(log) if e[0] == "start"] and time.monotonic() < deadline:
        time.sleep(0.05)
    killed = [(c, r) for e, c, r in executions(log) if e == "start"][0]
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    rescuer = spawn_toy(config, {**opts, "worker": True}, env, "rescuer", tmp_path)
    assert wait_all([coord, rescuer], timeout=90) == [0, 0], _logs(tmp_path)
    assert json.loads((tmp_path / "coord.out").read_text())["winner"] == single_process_winner(config)
    counts = done_counts(log, coord)
    assert set(counts) == expected_rungs(config) and max(counts.values()) == 1
    starts = Counter((c, r) for e, c, r in executions(log, (coord.pid,)) if e == "start")
    assert starts[killed] == 2  # the killed rung ran again, on the rescuer
    bake = st.load(st.open_storage(shared_url, create=False), study_name)
    failed = [t for t in bake.rung_trials() if t.state == TrialState.FAIL]
    assert [(t.params["candidate"], t.params["rung"]) for t in failed] == [killed]
    retried = [t for t in bake.rung_trials() if t.system_attrs.get("failed_trial") == failed[0].number]
    assert len(retried) == 1 and retried[0].state == TrialState.COMPLETE


def test_coordinator_killed_then_resumed_reuses_finished_rungs(toy_data, tmp_path, shared_url, study_name):
    log = tmp_path / "log"
    config = toy_config(toy_data, tmp_path / "out")
    env = toy_env(log, rung_s=0.3)
    opts = {"storage": shared_url, "study": study_name}
    coord = spawn_toy(config, opts, env, "coord", tmp_path)
    _wait_for_study(shared_url, study_name)
    worker = spawn_toy(config, {**opts, "worker": True}, env, "w1", tmp_path)
    deadline = time.monotonic() + 30
    while sum(1 for e in executions(log) if e[0] == "done" and e[2] == 0) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(coord.pid, signal.SIGKILL)
    coord.wait()
    resumed = spawn_toy(config, opts, env, "coord2", tmp_path)
    assert wait_all([resumed, worker], timeout=60) == [0, 0], _logs(tmp_path)
    assert "resuming study" in (tmp_path / "coord2.err").read_text()
    assert json.loads((tmp_path / "coord2.out").read_text())["winner"] == single_process_winner(config)
    counts = done_counts(log, coord, resumed)
    assert set(counts) == expected_rungs(config) and max(counts.values()) == 1

    rows = run_shortlist(None, {"storage": shared_url, "study": study_name, "status": True, "format": "json"})
    by = {r["candidate"]: r for r in rows}
    assert sorted(by) == ["m1", "m2", "m3", "m4"]
    winner = json.loads((tmp_path / "coord2.out").read_text())["winner"]
    assert by[winner]["state"] == "winner" and by[winner]["rung2_val_top1"] is not None
    assert sum(r["state"] == "dropped" for r in rows) == 3
    bake = st.load(st.open_storage(shared_url, create=False), study_name)
    assert not [t for t in bake.candidate_trials() if t.state == TrialState.RUNNING]


# ---------------------------------------------------------------- errors: one line, nothing written


def test_worker_for_a_missing_study_is_an_error_and_writes_nothing(toy_data, tmp_path):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    st.open_storage(url, create=True)  # an empty but valid storage
    config = ShortlistConfig.from_dict(toy_config(toy_data, tmp_path / "out"))
    with pytest.raises(HootError, match="study 'nope' does not exist.*start the coordinator first"):
        run_shortlist(config, {"storage": url, "study": "nope", "worker": True}, engine=load_engine("hoot.testing.toy_engine"))
    assert st.study_names(st.open_storage(url, create=False)) == []
    assert not (tmp_path / "out").exists()


def test_worker_with_other_settings_or_data_is_refused(toy_data, tmp_path):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    config = toy_config(toy_data, tmp_path / "out")
    run_shortlist(ShortlistConfig.from_dict(config), {"storage": url, "study": "s"}, engine=_engine_with_local_worker(url))
    before = len(st.load(st.open_storage(url, create=False), "s").rung_trials())
    engine = load_engine("hoot.testing.toy_engine")
    other_seed = ShortlistConfig.from_dict({**config, "seed": 7})
    with pytest.raises(HootError, match=r"settings differ from study 's': seed=7 here but 0 in the study"):
        run_shortlist(other_seed, {"storage": url, "study": "s", "worker": True}, engine=engine)
    (toy_data / "cat" / "extra.png").write_bytes(b"new")
    with pytest.raises(HootError, match="images in .* differ from the data study 's' was made with"):
        run_shortlist(ShortlistConfig.from_dict(config), {"storage": url, "study": "s", "worker": True}, engine=engine)
    assert len(st.load(st.open_storage(url, create=False), "s").rung_trials()) == before


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mongodb://h/db", "unsupported database 'mongodb'"),
        ("postgresql://nobody@127.0.0.1:1/db", "cannot use storage 'postgresql://nobody@127.0.0.1:1/db'.*server is running"),
        ("postgresql://h:notaport/db", "is not a database URL"),
    ],
)
def test_bad_storage_urls_are_one_line_errors(url, message, toy_data, tmp_path):
    config = ShortlistConfig.from_dict(toy_config(toy_data, tmp_path / "out"))
    with pytest.raises(HootError, match=message):
        run_shortlist(config, {"storage": url, "study": "s", "worker": True}, engine=load_engine("hoot.testing.toy_engine"))


def test_password_is_not_shown_in_errors():
    with pytest.raises(HootError) as info:
        st.open_storage("postgresql://u:secret@127.0.0.1:1/db", create=False)
    assert "secret" not in str(info.value) and "***" in str(info.value)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"worker": True}, "--worker needs the coordinator's --storage"),
        ({"status": True, "storage": "sqlite:///x.db"}, "--status needs --study"),
        ({"worker": True, "status": True, "storage": "x", "study": "s"}, "exclude each other"),
        ({"nproc": 0}, "--nproc 0 must be at least 1"),
        ({"nnodes": 2, "storage": "sqlite:///x.db"}, "needs --rdzv-endpoint"),
        ({"rdzv_endpoint": "nohostport"}, "must be HOST:PORT"),
        ({"nnodes": 2, "rdzv_endpoint": "h:29500"}, "needs --storage"),
        ({"study": "bad name!"}, "--study 'bad name!' must be"),
        ({"study": "s.rungs"}, "names hoot's work queue"),
        ({"bogus": 1}, "unknown scale-out option 'bogus'"),
    ],
)
def test_option_errors_name_the_flag(options, message):
    with pytest.raises(HootError, match=message):
        ScaleoutOptions.from_dict(options)


def test_claim_is_exclusive_between_two_storage_handles(tmp_path):
    url = f"sqlite:///{tmp_path / 'q.db'}"
    bake, _ = st.create_or_load(st.open_storage(url), "q", Metric.named("val_top1"), {})
    st.add_work(bake, ["a"], "a", 0)
    other = st.load(st.open_storage(url, create=False), "q")
    seen = {}

    def first_objective(trial):  # while the first handle holds the rung, the second claims nothing
        seen["first"] = trial.params["candidate"]
        seen["second"] = st.run_next_rung(other, lambda t: seen.setdefault("second_ran", t.params))
        return 1.0

    first = st.run_next_rung(bake, first_objective)
    second = seen["second"]
    assert first is True and seen["first"] == "a" and second is False and "second_ran" not in seen
    assert [t.state for t in bake.rung_trials()] == [TrialState.COMPLETE]


def test_a_lost_race_for_the_last_rung_leaves_no_work_trial(tmp_path):
    """Two handles see one queued rung; the second's ask finds the queue empty and makes a fresh
    trial: it is pruned, runs nothing, and is not counted as work."""
    url = f"sqlite:///{tmp_path / 'r.db'}"
    bake, _ = st.create_or_load(st.open_storage(url), "r", Metric.named("val_top1"), {})
    st.add_work(bake, ["a"], "a", 0)
    other = st.load(st.open_storage(url, create=False), "r")
    ran = []

    def first_objective(trial):
        # the other handle already looked at the queue (one rung waiting) and asks now
        real = other.rung_trials
        other.rung_trials = lambda states=None: real(None) if states else real(states)
        ran.append(st.run_next_rung(other, lambda t: ran.append("other trained") or 0.0))
        return 1.0

    assert st.run_next_rung(bake, first_objective) is True
    assert ran == [False]
    assert [t.params["candidate"] for t in bake.rung_trials()] == ["a"]
    empty = [t for t in bake.rungs.get_trials() if t.user_attrs.get(st.EMPTY_CLAIM)]
    assert len(empty) == 1 and empty[0].state == TrialState.PRUNED


# ---------------------------------------------------------------- helpers


def _engine_with_local_worker(url: str):
    """The toy engine, plus a worker thread so a storage-mode coordinator can finish in-process."""
    import threading

    engine = load_engine("hoot.testing.toy_engine")
    prepare = engine.prepare

    def prepare_and_start_worker(config):
        ctx = prepare(config)

        def work():
            from hoot.trainer.orchestration.scaleout import run_worker

            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    run_worker(config, ScaleoutOptions(storage=url, study="s", worker=True), engine)
                    return
                except HootError:  # the study is created right after prepare
                    time.sleep(0.05)

        threading.Thread(target=work, daemon=True).start()
        return ctx

    return dataclasses.replace(engine, prepare=prepare_and_start_worker)


def _wait_for_study(url: str, name: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if name in st.study_names(st.open_storage(url, create=False)):
                return
        except HootError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"study {name} was not created within {timeout}s")


def _logs(folder: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(folder.glob("*.err")))


def test_ctrl_c_on_a_worker_hands_its_rung_back_at_once(toy_data, tmp_path, shared_url, study_name):
    log = tmp_path / "log"
    config = toy_config(toy_data, tmp_path / "out")
    env = toy_env(log, rung_s=1.0, heartbeat_s=60)  # the heartbeat would take minutes to notice
    opts = {"storage": shared_url, "study": study_name}
    coord = spawn_toy(config, opts, env, "coord", tmp_path)
    _wait_for_study(shared_url, study_name)
    first = spawn_toy(config, {**opts, "worker": True}, env, "first", tmp_path)
    deadline = time.monotonic() + 30
    while not executions(log) and time.monotonic() < deadline:
        time.sleep(0.05)
    interrupted = [(c, r) for e, c, r in executions(log) if e == "start"][0]
    first.send_signal(signal.SIGINT)
    assert first.wait(timeout=30) == 130
    assert "handed back to the queue" in (tmp_path / "first.err").read_text()
    second = spawn_toy(config, {**opts, "worker": True}, env, "second", tmp_path)
    assert wait_all([coord, second], timeout=90) == [0, 0], _logs(tmp_path)
    counts = done_counts(log, coord)
    assert set(counts) == expected_rungs(config) and max(counts.values()) == 1
    bake = st.load(st.open_storage(shared_url, create=False), study_name)
    failed = [t for t in bake.rung_trials() if t.state == TrialState.FAIL]
    assert [(t.params["candidate"], t.params["rung"]) for t in failed] == [interrupted]
    assert failed[0].user_attrs.get("error_interrupted") is True


def test_coordinator_with_unreachable_storage_writes_nothing(toy_data, tmp_path):
    config = ShortlistConfig.from_dict(toy_config(toy_data, tmp_path / "out"))
    with pytest.raises(HootError, match="cannot use storage 'postgresql://u:\\*\\*\\*@127.0.0.1:1/db'"):
        run_shortlist(config, {"storage": "postgresql://u:pw@127.0.0.1:1/db", "study": "s"}, engine=load_engine("hoot.testing.toy_engine"))
    assert not (tmp_path / "out").exists()


@pytest.mark.postgres
def test_worker_on_a_fresh_database_writes_nothing(postgres_url, toy_data, tmp_path):
    """A worker started before the coordinator must not touch the schema (the creation race)."""
    import sqlalchemy

    fresh = f"fresh_{uuid.uuid4().hex[:8]}"
    admin = sqlalchemy.create_engine(st.with_installed_driver(postgres_url, sqlalchemy.engine.make_url(postgres_url)),
                                     isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f"CREATE DATABASE {fresh}"))
    url = sqlalchemy.engine.make_url(postgres_url).set(database=fresh).render_as_string(hide_password=False)
    try:
        config = ShortlistConfig.from_dict(toy_config(toy_data, tmp_path / "out"))
        with pytest.raises(HootError, match="start the coordinator first"):
            run_shortlist(config, {"storage": url, "study": "s", "worker": True}, engine=load_engine("hoot.testing.toy_engine"))
        check = sqlalchemy.create_engine(st.with_installed_driver(url, sqlalchemy.engine.make_url(url)))
        with check.connect() as conn:
            assert sqlalchemy.inspect(conn).get_table_names() == []
        check.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f"DROP DATABASE IF EXISTS {fresh} WITH (FORCE)"))
        admin.dispose()
