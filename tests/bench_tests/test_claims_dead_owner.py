"""A claim dies with its process (issue 21: after kill -9 of `hoot bench` its claims stayed live for
about 15 minutes and the re-run silently skipped a model)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

from hoot.advisor.catalog import load_catalog
from hoot.bench.records import SettingsKey
from hoot.bench.runner import RunOptions, plan_jobs, run_jobs
from hoot.bench.store import ResultStore

HW = "test-cpu-00000000"


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_dead_process_on_this_host_loses_its_claim_at_once(db, row) -> None:
    key = SettingsKey.from_row(row())
    here = os.uname().nodename
    with ResultStore(db) as store:
        assert store.claim(key, f"{here}:{_dead_pid()}", ttl_s=900)
        assert not store.claimed_by_other(key, f"{here}:{os.getpid()}")
        assert store.claim(key, f"{here}:{os.getpid()}", ttl_s=900)


def test_a_live_process_keeps_its_claim(db, row) -> None:
    key = SettingsKey.from_row(row())
    here = os.uname().nodename
    with ResultStore(db) as store:
        assert store.claim(key, f"{here}:{os.getppid()}", ttl_s=900)  # pytest's parent: alive
        assert not store.claim(key, f"{here}:{os.getpid()}", ttl_s=900)
        assert store.claim(SettingsKey.from_row(row(batch_size=4)), f"elsewhere:{_dead_pid()}", ttl_s=900)
        assert not store.claim(SettingsKey.from_row(row(batch_size=4)), f"{here}:{os.getpid()}", ttl_s=900)


def test_a_model_another_process_measures_is_said_to_be_skipped(db, fake_builder, caplog, monkeypatch) -> None:
    settings = RunOptions(device="cpu", threads=1, quick=True, input_size=32)
    with ResultStore(db) as store:
        jobs, _, _ = plan_jobs([load_catalog().get("resnet18")], settings, HW, store, builder=fake_builder)
        for mode, batch in jobs[0].pairs:
            store.claim(jobs[0].key(mode, batch), "another-host:1", ttl_s=900)
        with caplog.at_level(logging.INFO, logger="hoot.bench.runner"):
            rows = run_jobs(jobs, store, HW, progress=False)
    assert rows == []
    assert any("resnet18 skipped: another hoot bench process is measuring it" in r.getMessage() for r in caplog.records)
