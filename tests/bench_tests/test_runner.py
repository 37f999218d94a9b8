"""Child-process isolation: a crash, an exception, an OOM or a SIGKILL costs one model's rows."""

from __future__ import annotations

import dataclasses

import pytest

from hoot.advisor.catalog import load_catalog
from hoot.bench.runner import RunOptions, plan_jobs, run_jobs
from hoot.bench.store import ResultStore

HW = "test-cpu-00000000"


def _jobs(names, fake_builder, store=None, **settings):
    s = RunOptions(device="cpu", threads=1, quick=True, input_size=32, **settings)
    catalog = load_catalog()
    return plan_jobs([catalog.get(n) for n in names], s, HW, store, builder=fake_builder)


def test_failures_cost_one_row_each_and_the_run_goes_on(db, fake_builder):
    names = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "mobilenet_v3_small"]
    with ResultStore(db) as store:
        jobs, skipped, _ = _jobs(names, fake_builder, store)
        assert not skipped and len(jobs) == 6
        rows = run_jobs(jobs, store, HW, progress=False)
        stored = {r["variant"]: r for r in store.rows()}
    assert [r["variant"] for r in rows] == names  # written in order, one row each
    assert stored["resnet18"]["status"] == "ok" and stored["resnet18"]["latency_ms"] > 0
    assert stored["mobilenet_v3_small"]["status"] == "ok"  # after all the failures
    assert stored["resnet34"]["status"] == "error" and "SIGABRT" in stored["resnet34"]["error"]
    assert stored["resnet50"]["status"] == "error" and "ValueError: cannot build resnet50" in stored["resnet50"]["error"]
    assert stored["resnet101"]["status"] == "oom" and "OutOfMemoryError" in stored["resnet101"]["error"]
    # an unexplained SIGKILL is an error (measured again next run), not an oom (issue 11, item 5)
    assert stored["resnet152"]["status"] == "error" and "SIGKILL" in stored["resnet152"]["error"]
    ok = stored["resnet18"]
    assert ok["iterations"] >= 3 and ok["latency_p10_ms"] <= ok["latency_ms"] <= ok["latency_p90_ms"]
    assert ok["peak_memory_mb"] is not None and ok["memory_kind"] == "cpu_rss"
    assert ok["gmacs"] > 0 and ok["params"] > 0 and ok["torch_version"]


def test_resume_skips_stored_settings_unless_forced(db, fake_builder):
    with ResultStore(db) as store:
        jobs, _, _ = _jobs(["resnet18", "resnet50"], fake_builder, store, batch_sizes=(1, 2))
        run_jobs(jobs, store, HW, progress=False)
        again, skipped, _ = _jobs(["resnet18", "resnet50"], fake_builder, store, batch_sizes=(1, 2))
        # the ok rows are skipped; the error rows are measured again
        assert len(skipped) == 2 and [j.variant for j in again] == ["resnet50"]
        forced, skipped, _ = _jobs(["resnet18"], fake_builder, store, batch_sizes=(1, 2), force=True)
        assert not skipped and list(forced[0].pairs) == [("inference", 1), ("inference", 2)]
        other, skipped, _ = _jobs(["resnet18"], fake_builder, store, batch_sizes=(1, 2), channels_last=True)
        assert not skipped and len(other) == 1  # other settings are other measurements


def test_train_rows_and_detection_note(db, fake_builder):
    catalog = load_catalog()
    detection = next((v for v in catalog.provided() if v.kind == "detection"), None)
    s = RunOptions(device="cpu", threads=1, quick=True, input_size=32, train=True, batch_sizes=(2,))
    variants = [catalog.get("resnet18")] + ([detection] if detection else [])
    jobs, _, notes = plan_jobs(variants, s, HW, None, builder=fake_builder)
    assert list(jobs[0].pairs) == [("inference", 2), ("train", 2)]
    if detection:
        assert any(detection.name in n for n in notes)
        assert list(jobs[1].pairs) == [("inference", 2)]
    with ResultStore(db) as store:
        rows = run_jobs(jobs[:1], store, HW, progress=False)
    train = [r for r in rows if r["mode"] == "train"][0]
    assert train["status"] == "ok" and train["latency_ms"] > 0 and train["auto_batch_size"] is None  # CPU


def test_ctrl_c_keeps_finished_rows_and_stops_the_child(db, fake_builder):
    seen = []

    def interrupt_after_first(row):
        seen.append(row)
        raise KeyboardInterrupt

    with ResultStore(db) as store:
        jobs, _, _ = _jobs(["resnet18", "mobilenet_v3_small"], fake_builder, store)
        with pytest.raises(KeyboardInterrupt):
            run_jobs(jobs, store, HW, progress=False, on_row=interrupt_after_first)
        rows = store.rows()
    assert len(seen) == 1 and [r["variant"] for r in rows] == ["resnet18"]


def test_timeout_stops_a_slow_model(db, fake_builder):
    with ResultStore(db) as store:
        jobs, _, _ = _jobs(["efficientnet_b7"], fake_builder, store)
        rows = run_jobs(jobs, store, HW, progress=False, timeout_s=1.0)
    assert rows[0]["status"] == "error" and "timed out" in rows[0]["error"]


def test_fvcore_cross_check_is_added_to_the_stored_rows(db, fake_builder):
    pytest.importorskip("fvcore")
    with ResultStore(db) as store:
        jobs, _, _ = _jobs(["resnet18"], fake_builder, store, batch_sizes=(1, 2))
        jobs[0] = dataclasses.replace(jobs[0], fvcore=True)  # runs after the timing, then annotates the rows
        rows = run_jobs(jobs, store, HW, progress=False)
        stored = store.rows()
    assert len(stored) == 2
    for r in stored + rows:
        assert r["gmacs_fvcore"] == pytest.approx(r["gmacs"], rel=0.2) and r["gmacs"] > 0


def test_one_warm_child_measures_model_after_model_until_one_fails(db, fake_builder):
    from hoot.bench.child import WarmChild

    with ResultStore(db) as store, WarmChild() as child:
        jobs, _, _ = _jobs(["resnet18", "mobilenet_v3_small", "squeezenet1_1", "resnet152", "shufflenet_v2_x0_5"],
                           fake_builder, store)
        rows = run_jobs(jobs, store, HW, progress=False, child=child)
        # three models in the first child; resnet152 kills its child; a second one measures the last
        assert child.started == 2
    assert [r["status"] for r in rows] == ["ok", "ok", "ok", "error", "ok"]


def test_resume_measures_oom_and_error_rows_again(db, fake_builder):
    with ResultStore(db) as store:
        jobs, _, _ = _jobs(["resnet18", "resnet101", "resnet152"], fake_builder, store)
        run_jobs(jobs, store, HW, progress=False)
        again, skipped, _ = _jobs(["resnet18", "resnet101", "resnet152"], fake_builder, store)
    assert [k.variant for k in skipped] == ["resnet18"]
    assert [j.variant for j in again] == ["resnet101", "resnet152"]  # the oom and the killed one


def test_classify_exit():
    import signal

    from hoot.bench.records import classify_exit

    assert classify_exit(-signal.SIGKILL, False)[0] == "error"
    assert classify_exit(-signal.SIGKILL, True)[0] == "oom"
    status, message = classify_exit(-signal.SIGABRT, False)
    assert status == "error" and "SIGABRT" in message
    assert classify_exit(3, False)[0] == "error"


class ClaimingStore(ResultStore):
    """A store with claims shared through a dict, as two processes share them through the database."""

    def __init__(self, path, claims):
        super().__init__(path)
        self.claims = claims
        self.owner_seen = set()

    def claim(self, key, owner, ttl_s):
        self.owner_seen.add(owner)
        holder = self.claims.setdefault(key, owner)
        return holder == owner

    def release(self, key, owner):
        if self.claims.get(key) == owner:
            del self.claims[key]


def test_two_processes_share_work_through_claims(db, fake_builder):
    claims = {}
    with ClaimingStore(db, claims) as store:
        jobs, _, _ = _jobs(["resnet18", "mobilenet_v3_small"], fake_builder, store, batch_sizes=(1, 2))
        other = "other-host:1"
        claims[jobs[0].key("inference", 1)] = other  # the other process is measuring resnet18 at batch 1
        for key in (jobs[1].key("inference", 1), jobs[1].key("inference", 2)):
            claims[key] = other  # ... and all of mobilenet_v3_small
        rows = run_jobs(jobs, store, HW, progress=False)
    assert [(r["variant"], r["batch_size"]) for r in rows] == [("resnet18", 2)]
    assert len(claims) == 3 and all(holder == other for holder in claims.values())  # ours released
    assert len(store.owner_seen) == 1 and other not in store.owner_seen  # one owner id per run


def test_a_setting_stored_by_another_process_meanwhile_is_not_measured_again(db, fake_builder):
    with ResultStore(db) as store:
        jobs, _, _ = _jobs(["resnet18"], fake_builder, store, batch_sizes=(1, 2))
        first = run_jobs([jobs[0].with_pairs([("inference", 1)])], store, HW, progress=False)
        rows = run_jobs(jobs, store, HW, progress=False)  # planned before `first` was stored
    assert len(first) == 1 and [r["batch_size"] for r in rows] == [2]


def test_flop_counts_are_reused_from_the_store(db, fake_builder):
    with ResultStore(db) as store:
        jobs, _, _ = _jobs(["resnet18"], fake_builder, store)
        run_jobs(jobs, store, HW, progress=False)
        again, _, _ = _jobs(["resnet18"], fake_builder, store, batch_sizes=(2,))
    assert again[0].known_figures["gmacs"] > 0  # the child skips counting them again
