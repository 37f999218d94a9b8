"""Contention known and shown (issue 17): the classification, the monitor, the store and what users see.

All with fakes: no test depends on how busy the test machine is or how long anything takes.
"""

from __future__ import annotations

import sqlite3
from types import SimpleNamespace

import pytest

from hoot.advisor.errors import HootError
from hoot.bench.advice_rows import load_measurements
from hoot.bench.contention import (CONTENDED_OTHER_CORES, Busy, BusyMonitor, classify, gpu_other_processes,
                                   wait_for_quiet)
from hoot.bench.jobs import BenchJob, RowMessage
from hoot.bench.measure import Budget, measure
from hoot.bench.records import Measurement
from hoot.bench.runner import ContendedRun, RunOptions, _run_one, plan_jobs
from hoot.bench.store import SCHEMA_VERSION, ResultStore

HW = "test-cpu-00000000"


@pytest.fixture(autouse=True)
def _the_stated_threshold(monkeypatch):
    monkeypatch.delenv("HOOT_CONTENDED_OTHER_CORES", raising=False)  # tests/conftest.py raises it for other tests


# -- the rule -------------------------------------------------------------------------------------
def test_other_processes_on_the_cores_the_timing_needs_make_a_row_contended():
    assert classify(Busy(other_cores=1.0, cores=2, threads=2))  # a hog shares both cores
    assert classify(Busy(other_cores=CONTENDED_OTHER_CORES + 0.01, cores=2, threads=2))
    assert not classify(Busy(other_cores=CONTENDED_OTHER_CORES, cores=2, threads=2))
    assert not classify(Busy(other_cores=0.03, cores=2, threads=2))  # a quiet machine's background


def test_other_processes_on_cores_the_timing_leaves_free_do_not():
    assert not classify(Busy(other_cores=2.9, cores=4, threads=1))  # three free cores, three busy
    assert classify(Busy(other_cores=3.6, cores=4, threads=1))  # ... and half a core more


def test_a_neighbour_on_the_gpu_makes_a_gpu_row_contended():
    assert classify(Busy(other_cores=0.0, cores=8, threads=8, gpu_other_processes=1))
    assert not classify(Busy(other_cores=0.0, cores=8, threads=8, gpu_other_processes=0))
    assert not classify(Busy(other_cores=0.0, cores=8, threads=8, gpu_other_processes=None))  # not known


def test_the_threshold_can_be_moved_but_not_to_nonsense(monkeypatch):
    monkeypatch.setenv("HOOT_CONTENDED_OTHER_CORES", "3")
    assert not classify(Busy(other_cores=2.0, cores=2, threads=2))
    monkeypatch.setenv("HOOT_CONTENDED_OTHER_CORES", "lots")
    with pytest.raises(HootError, match="HOOT_CONTENDED_OTHER_CORES='lots'"):
        classify(Busy(other_cores=2.0, cores=2, threads=2))


def test_busy_fields_are_the_stored_columns():
    busy = Busy(other_cores=1.23456, cores=2, threads=2, load_1min=2.5)
    assert busy.fields() == {"busy_other_cores": 1.235, "load_1min": 2.5, "gpu_other_processes": None,
                             "contended": True}
    assert "1.2 of 2 cores" in busy.describe() and busy.other_fraction == pytest.approx(0.617, abs=1e-3)


# -- the monitor, with a fake psutil ----------------------------------------------------------------
class FakePsutil:
    """The machine's busy CPU seconds and this process's CPU seconds, advanced by the test."""

    NoSuchProcess = AccessDenied = RuntimeError

    def __init__(self) -> None:
        self.machine = 100.0
        self.own = 10.0
        self.kids: list[SimpleNamespace] = []
        fake = self

        class Process:
            pid = 4242

            def cpu_times(self):
                return SimpleNamespace(user=fake.own, system=0.0)

            def children(self, recursive=False):
                return fake.kids

        self.Process = Process

    def cpu_times(self):
        return SimpleNamespace(user=self.machine, nice=0.0, system=0.0, idle=999.0, iowait=5.0, irq=0.0,
                               softirq=0.0, steal=0.0, guest=self.machine)


def _monitor(fake: FakePsutil, clock: list[float], **kw) -> BusyMonitor:
    return BusyMonitor(2, psutil_module=fake, cores=2, clock=lambda: clock[0], load=lambda: 1.5, **kw)


def test_the_monitor_counts_other_processes_cpu_not_its_own():
    fake, clock = FakePsutil(), [0.0]
    monitor = _monitor(fake, clock)
    monitor.start()
    clock[0] = 2.0  # a 2 s window: we used 2 cores (4 CPU s), others 2 CPU s: one core
    fake.own += 4.0
    fake.machine += 6.0
    busy = monitor.stop()
    assert busy.other_cores == pytest.approx(1.0) and busy.window_s == 2.0 and busy.load_1min == 1.5
    assert busy.contended


def test_the_monitor_counts_its_child_processes_as_its_own():
    fake, clock = FakePsutil(), [0.0]
    kid = SimpleNamespace(pid=4343, cpu_times=lambda: SimpleNamespace(user=kid_s[0], system=0.0))
    kid_s = [0.0]
    fake.kids = [kid]
    monitor = _monitor(fake, clock)
    monitor.start()
    clock[0], kid_s[0], fake.machine = 1.0, 1.0, fake.machine + 1.0  # the machine's busy second was our child's
    busy = monitor.stop()
    assert busy.other_cores == pytest.approx(0.0) and not busy.contended


def test_a_quiet_window_is_not_contended():
    fake, clock = FakePsutil(), [0.0]
    monitor = _monitor(fake, clock)
    monitor.start()
    clock[0], fake.own, fake.machine = 1.0, fake.own + 2.0, fake.machine + 2.05
    assert not monitor.stop().contended


# -- NVML, with a fake ----------------------------------------------------------------------------
class FakeNvml:
    def __init__(self, pids: list[int], fail: bool = False) -> None:
        self.pids, self.fail, self.asked = pids, fail, []

    def nvmlInit(self):
        if self.fail:
            raise OSError("NVML Shared Library Not Found")

    def nvmlShutdown(self):
        pass

    def nvmlDeviceGetHandleByIndex(self, index):
        self.asked.append(index)
        return index

    def nvmlDeviceGetComputeRunningProcesses(self, handle):
        return [SimpleNamespace(pid=p, usedGpuMemory=0) for p in self.pids]


def test_gpu_neighbours_are_other_pids_on_the_device(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    nvml = FakeNvml([100, 200, 300])
    assert gpu_other_processes(1, nvml, own_pids={200}) == 2 and nvml.asked == [1]
    assert gpu_other_processes(0, FakeNvml([], fail=True)) is None  # no NVML: not known


def test_gpu_index_follows_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    nvml = FakeNvml([7])
    assert gpu_other_processes(1, nvml, own_pids=set()) == 1 and nvml.asked == [5]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-1234-abcd")
    assert gpu_other_processes(0, FakeNvml([7]), own_pids=set()) is None  # a UUID: never a guess


def test_the_monitor_reads_gpu_neighbours_at_both_ends(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    fake, clock = FakePsutil(), [0.0]
    nvml = FakeNvml([4242, 999])  # ourselves and one neighbour
    monitor = _monitor(fake, clock, nvml=nvml)
    monitor.gpu_index = 0
    monitor.start()
    clock[0] = 1.0
    busy = monitor.stop()
    assert busy.gpu_other_processes == 1 and busy.contended


# -- the timing loop carries it ---------------------------------------------------------------------
def test_measure_watches_the_timed_blocks_not_the_warm_up():
    events: list[str] = []

    class Monitor:
        def start(self):
            events.append("start")

        def stop(self):
            events.append("stop")
            return Busy(other_cores=1.0, cores=2, threads=2)

    budget = Budget(warmup_iters=2, warmup_s=0.0, min_iters=3, min_s=0.0, max_s=0.01, block_s=0.001, min_blocks=1)
    timing = measure(lambda: events.append("call"), budget=budget, monitor=Monitor())
    assert events[:2] == ["call", "call"] and events[2] == "start" and events[-1] == "stop"
    assert timing.contended is True and timing.busy.other_cores == 1.0
    assert measure(lambda: None, budget=budget).contended is None  # nobody watched: not known


# -- waiting for a quiet machine -------------------------------------------------------------------
def test_wait_for_quiet_waits_until_a_sample_is_quiet():
    samples = iter([Busy(1.5, 2, 2), Busy(1.2, 2, 2), Busy(0.02, 2, 2)])
    clock = iter([0.0, 0.5, 1.0, 1.5, 2.0])
    got = wait_for_quiet(2, 30, sample=lambda *a: next(samples), clock=lambda: next(clock))
    assert got.quiet and got.waited_s > 0 and got.first.other_cores == 1.5
    assert "waited" in got.describe() and "1.5 of 2 cores" in got.describe()


def test_wait_for_quiet_gives_up_and_says_so():
    times = iter([0.0, 1.0, 2.0, 11.0, 11.0])
    got = wait_for_quiet(2, 10, sample=lambda *a: Busy(1.9, 2, 2), clock=lambda: next(times))
    assert not got.quiet and "still busy" in got.describe() and "contended" in got.describe()


def test_a_quiet_machine_is_not_waited_for():
    got = wait_for_quiet(2, 10, sample=lambda *a: Busy(0.0, 2, 2), clock=lambda: 0.0)
    assert got.quiet and got.waited_s == 0


# -- the store: a column, older files, re-runs ----------------------------------------------------
def _version_2_file(path) -> None:
    """A results database as hoot wrote it before contention was recorded (schema version 2)."""
    from hoot.bench.store_schema import V3_COLUMNS, V4_COLUMNS

    with ResultStore(path) as store:
        store.add({"hardware_id": HW, "variant": "resnet18", "mode": "inference", "device": "cpu", "dtype": "fp32",
                   "batch_size": 1, "input_size": 224, "threads": 2, "channels_last": False, "quick": False,
                   "status": "ok", "latency_ms": 5.0, "measured_at": "2026-01-01T00:00:00+00:00"})
    conn = sqlite3.connect(path)
    for column in V3_COLUMNS + V4_COLUMNS:
        conn.execute(f"ALTER TABLE measurements DROP COLUMN {column}")
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()


def test_version_2_files_are_upgraded_and_their_rows_read_as_not_known(db):
    _version_2_file(db)
    with ResultStore(db) as store:
        (r,) = store.rows()
        assert r["latency_ms"] == 5.0 and r["contended"] is None and r["busy_other_cores"] is None
        assert store.measurements()[0].contended is None
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4


def test_a_read_only_version_2_file_still_opens_and_reads(db):
    _version_2_file(db)
    db.chmod(0o444)
    db.parent.chmod(0o555)
    try:
        with ResultStore(db, readonly=True) as store:
            assert [r["latency_ms"] for r in store.rows()] == [5.0]
            assert store.measurements()[0].contended is None
    finally:
        db.parent.chmod(0o755)
        db.chmod(0o644)


def test_a_re_run_measures_contended_rows_again(db, row, tmp_path):
    from hoot.advisor.catalog import load_catalog

    variants = [v for v in load_catalog() if v.name in ("resnet18", "mobilenet_v3_small")]
    options = RunOptions(device="cpu", threads=2, input_size=64)
    with ResultStore(db) as store:
        for v in variants:
            store.add(row(variant=v.name, input_size=64, native_input=False, threads=2,
                          contended=v.name == "resnet18", busy_other_cores=1.1 if v.name == "resnet18" else 0.0))
        jobs, skipped, _ = plan_jobs(variants, options, row()["hardware_id"], store)
    assert [j.variant for j in jobs] == ["resnet18"]  # the contended one is measured again
    assert [k.variant for k in skipped] == ["mobilenet_v3_small"]


# -- --contended skip | fail ------------------------------------------------------------------------
class FakeChild:
    started, start_s, last_phases = 0, 0.0, {}

    def __init__(self, measurement: Measurement) -> None:
        self.measurement = measurement

    def run(self, job, on_message, timeout_s=None):
        on_message(RowMessage(self.measurement))
        return None, False, True


def _job() -> BenchJob:
    return BenchJob(hardware_id=HW, variant="resnet18", family="ResNet", task="classification", device="cpu",
                    dtype="fp32", input_size=64, native_input=False, threads=2, channels_last=False, runtime="eager",
                    quick=False, pairs=(("inference", 1),))


def _busy_row(job: BenchJob) -> Measurement:
    return Measurement(key=job.key("inference", 1), latency_ms=50.0, contended=True,
                       measured_at="2026-01-02T00:00:00+00:00",
                       extra={"busy_other_cores": 1.2, "load_1min": 3.0, "threads": 2})


@pytest.mark.parametrize("policy", ["keep", "skip", "fail"])
def test_the_contended_policy_keeps_skips_or_fails(db, policy):
    job = _job()
    notes: list[str] = []
    with ResultStore(db) as store:
        if policy == "fail":
            with pytest.raises(ContendedRun, match=r"resnet18 .*busy machine .*other processes used 1\.2 core"):
                _run_one(job, FakeChild(_busy_row(job)), store, None, None, contended=policy, on_note=notes.append)
            assert isinstance(ContendedRun("x"), HootError)  # exit 2, one line
        else:
            _run_one(job, FakeChild(_busy_row(job)), store, None, None, contended=policy, on_note=notes.append)
        stored = store.rows()
    if policy == "keep":
        assert len(stored) == 1 and stored[0]["contended"] is True and not notes
    else:
        assert stored == []  # skipped or failed: not stored, and no error row in its place
    if policy == "skip":
        assert len(notes) == 1 and "not stored (--contended skip)" in notes[0]


def test_an_unknown_contended_policy_is_refused():
    with pytest.raises(HootError, match="--contended 'maybe'"):
        RunOptions(contended="maybe")


# -- what users see --------------------------------------------------------------------------------
def test_advice_rows_name_the_contended_models(db, row, monkeypatch):
    monkeypatch.setattr("hoot.bench.hardware.current_hardware_id", lambda: row()["hardware_id"])
    with ResultStore(db) as store:
        store.add(row(variant="resnet18", latency_ms=50.0, contended=True, busy_other_cores=1.2))
        store.add(row(variant="resnet34", latency_ms=20.0, contended=False, busy_other_cores=0.0))
    got = load_measurements(str(db), "this")
    assert got.rows["resnet18"].contended is True and got.rows["resnet34"].contended is False
    assert "1 of 2 measured latencies are contended" in got.note and "resnet18" in got.note


def test_advise_says_it_ranks_on_a_contended_row(db, row, monkeypatch):
    from click.testing import CliRunner

    from hoot.cli.main import cli

    monkeypatch.setattr("hoot.bench.hardware.current_hardware_id", lambda: row()["hardware_id"])
    with ResultStore(db) as store:
        for name, ms in (("resnet18", 50.0), ("resnet34", 20.0), ("mobilenet_v3_small", 3.0)):
            store.add(row(variant=name, latency_ms=ms, contended=name == "resnet18", busy_other_cores=1.0))
    out = CliRunner().invoke(cli, ["advise", "--db", str(db), "--task", "classification"])
    assert out.exit_code == 0, out.output
    figures = next(line for line in out.stdout.splitlines() if line.startswith("Figures:"))
    assert "1 contended" in figures and "resnet18" in figures
    assert "contended" in out.stderr and "resnet18" in out.stderr


def test_bench_show_has_a_contended_column_and_says_so(db, row):
    from click.testing import CliRunner

    from hoot.cli.main import cli

    with ResultStore(db) as store:
        store.add(row(variant="resnet18", latency_ms=50.0, contended=True, busy_other_cores=1.2, load_1min=2.0))
        store.add(row(variant="resnet34", latency_ms=20.0, contended=False, busy_other_cores=0.0))
    out = CliRunner().invoke(cli, ["bench", "show", "--db", str(db), "--format", "csv"])
    assert out.exit_code == 0, out.output
    header = out.stdout.splitlines()[0].split(",")
    assert "contended" in header and "busy_other_cores" in header
    assert "1 of 2 timing(s) contended" in out.stderr and "resnet18" in out.stderr


def test_the_bench_report_flags_contended_rows(db, row, tmp_path):
    from hoot.advisor.catalog import load_catalog
    from hoot.bench.report import write_report

    rows = [row(variant="resnet18", latency_ms=50.0, contended=True, busy_other_cores=1.2),
            row(variant="resnet34", latency_ms=20.0, contended=False, busy_other_cores=0.0)]
    write_report(rows, {"hardware_id": HW}, tmp_path / "rep", load_catalog())
    md = (tmp_path / "rep" / "index.md").read_text()
    assert "1 contended" in md and "contended (1.2 other cores busy)" in md

