"""One setting per ranking: what advice (and the bake-off) reads from the store (issue 11, point 1).

The old tests asserted the mixing as correct (a GPU row for one model beside CPU rows for
the rest); these assert the opposite.
"""

from __future__ import annotations

import pytest

from hoot.advisor.errors import HootError
from hoot.bench.advice_rows import AdviceRows, load_measurements
from hoot.bench.records import Measurement, Setting
from hoot.bench.selection import choose_rows
from hoot.bench.store import ResultStore

HW = "test-cpu-00000000"
SEEDS = ["resnet18", "resnet34", "resnet50", "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0"]


@pytest.fixture
def this_machine(monkeypatch):
    monkeypatch.setattr("hoot.bench.hardware.current_hardware_id", lambda: HW)


@pytest.fixture
def cpu_store(db, row, this_machine):
    """CPU rows (2 threads) for six models, plus the rows that used to leak into the ranking."""
    with ResultStore(db) as store:
        store.save_hardware({"hardware_id": HW, "cpu_model": "Test CPU"})
        for i, name in enumerate(SEEDS):
            store.add(row(variant=name, latency_ms=10.0 + i, measured_at=f"2026-01-01T00:00:0{i}+00:00"))
        store.add(row(variant="resnet50", device="cuda:0", latency_ms=2.0, memory_kind="cuda_allocator"))
        store.add(row(variant="resnet18", threads=1, latency_ms=28.0))  # a newer --threads 1 run
        store.add(row(variant="resnet34", threads=1, latency_ms=30.0))
        store.add(row(variant="regnet_y_400mf", quick=True, latency_ms=3.0))  # only a --quick row
        store.add(row(variant="resnet18", input_size=512, native_input=False, latency_ms=80.0))
        store.add(row(variant="resnet18", batch_size=8, latency_ms=90.0))
    return db


def test_cpu_rows_and_one_cuda_row_do_not_mix(cpu_store):
    got = load_measurements(str(cpu_store), "this")
    assert isinstance(got, AdviceRows)
    assert got.setting == Setting(device="cpu", dtype="fp32", batch_size=1, input_size=None, threads=2)
    assert set(got.rows) == set(SEEDS)
    assert {m.key.device for m in got.rows.values()} == {"cpu"}
    assert got.rows["resnet50"].latency_ms == 12.0  # its CPU row, not the 2 ms GPU one
    assert got.hardware["cpu_model"] == "Test CPU" and got.hardware["hardware_id"] == HW
    assert "cpu fp32 batch 1 native px 2 threads eager" == got.setting.label()
    labels = {s.label() for s in got.other_settings}
    assert any(label.startswith("cuda:0") for label in labels) and got.setting not in got.other_settings


def test_a_threads_1_run_does_not_replace_the_2_thread_rows(cpu_store):
    got = load_measurements(str(cpu_store), "this")
    assert got.rows["resnet18"].latency_ms == 10.0 and got.rows["resnet18"].key.threads == 2
    assert {m.key.threads for m in got.rows.values()} == {2}
    one = load_measurements(str(cpu_store), "this", Setting(threads=1))  # asked for: that setting only
    assert set(one.rows) == {"resnet18", "resnet34"} and one.rows["resnet18"].latency_ms == 28.0
    assert one.setting.threads == 1


def test_no_quick_other_size_or_other_batch_rows_in_the_default_ranking(cpu_store):
    got = load_measurements(str(cpu_store), "this")
    assert "regnet_y_400mf" not in got.rows
    assert all(not m.key.quick and m.key.batch_size == 1 and m.key.input_size == 224 for m in got.rows.values())
    quick = load_measurements(str(cpu_store), "this", Setting(quick=True))
    assert set(quick.rows) == {"regnet_y_400mf"} and quick.setting.quick
    big = load_measurements(str(cpu_store), "this", Setting(input_size=512))
    assert set(big.rows) == {"resnet18"} and big.rows["resnet18"].latency_ms == 80.0


def test_a_wanted_setting_pins_device_and_says_when_it_is_not_stored(cpu_store):
    gpu = load_measurements(str(cpu_store), "this", Setting(device="cuda"))
    assert set(gpu.rows) == {"resnet50"} and gpu.setting.device == "cuda:0"
    none = load_measurements(str(cpu_store), "this", Setting(dtype="bf16"))
    assert none.rows == {} and none.setting is None
    assert "no measurements of cpu bf16 batch 1" in none.note and "stored settings" in none.note


def test_on_cuda_the_half_precision_throughput_batch_is_the_default(db, row, this_machine):
    with ResultStore(db) as store:
        for name in SEEDS[:4]:
            store.add(row(variant=name, device="cuda:0", latency_ms=3.0))
        for name in SEEDS[:3]:
            store.add(row(variant=name, device="cuda:0", dtype="bf16", batch_size=64, latency_ms=20.0))
        store.add(row(variant=SEEDS[4], device="cpu", latency_ms=11.0))
    got = load_measurements(str(db), "this")
    assert got.setting.dtype == "bf16" and got.setting.batch_size == 64 and set(got.rows) == set(SEEDS[:3])
    fp32 = load_measurements(str(db), "this", Setting(device="cuda", dtype="fp32", batch_size=1))
    assert set(fp32.rows) == set(SEEDS[:4])


def test_failed_rows_come_with_their_setting_and_an_ok_row_wins_over_a_later_failure(db, row, this_machine):
    with ResultStore(db) as store:
        store.add(row(variant="resnet18", latency_ms=10.0, measured_at="2026-01-01T00:00:00+00:00"))
        store.add(row(variant="resnet18", status="error", latency_ms=None, error="killed (signal 9)",
                      measured_at="2026-01-02T00:00:00+00:00"))
        store.add(row(variant="resnet152", status="oom", latency_ms=None, error="out of memory"))
        store.add(row(variant="resnet50", latency_ms=40.0, converged=False, stopped_by="time_cap"))
    got = load_measurements(str(db), "this")
    assert got.rows["resnet18"].status == "ok" and got.rows["resnet18"].latency_ms == 10.0
    assert got.rows["resnet152"].status == "oom"
    assert "1 of 2 measured latencies did not converge" in got.note and "resnet50" in got.note
    ok = got.ok_rows()  # what a ranking uses: the ok rows, their convergence kept
    assert set(ok) == {"resnet18", "resnet50"} and ok["resnet50"].converged is False


def test_missing_stores_and_unknown_hardware(db, tmp_path, row, this_machine):
    empty = load_measurements(None, "this")  # no default store: estimates, not an error
    assert empty.rows == {} and empty.setting is None and "no measurements for this machine" in empty.note
    with pytest.raises(HootError, match=r"results database '.*' does not exist; run `hoot bench --db"):
        load_measurements(str(db), "this")
    with pytest.raises(HootError, match="is a directory"):
        load_measurements(str(tmp_path), "this")
    with ResultStore(db) as store:
        store.add(row(hardware_id="jetson-abcd1234", device="cuda:0"))
    got = load_measurements(str(db), "this")
    assert got.rows == {} and "results exist for jetson-abcd1234" in got.note
    with pytest.raises(HootError, match="known hardware ids: jetson-abcd1234"):
        load_measurements(str(db), "tpu-pod")
    assert load_measurements(str(db), "jetson").rows["resnet18"].key.device == "cuda:0"  # a unique prefix


def test_choose_rows_in_memory_prefers_full_budget_fp32(row):
    rows = [Measurement.from_row(r) for r in
            (row(latency_ms=5.0, quick=True), row(latency_ms=6.0), row(latency_ms=4.0, dtype="bf16"))]
    chosen = choose_rows(rows)
    assert chosen.rows["resnet18"].latency_ms == 6.0 and chosen.setting.dtype == "fp32"
    assert len(chosen.other_settings) == 2
