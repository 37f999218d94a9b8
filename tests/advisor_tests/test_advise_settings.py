"""One setting per ranking (issue 11.1 / 9.6) and measured speed-ups (issue 13.4).

The store is faked at the interface helper "store" delivers (`load_measurements(db, hardware,
wanted) -> AdviceRows`), with real `Setting` and `Measurement` records."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

import pytest

from hoot.advisor.recommender.explanation import RuntimeSpeedup, speedup_lines
from hoot.advisor.recommender.recommend import Request, recommend
from hoot.advisor.recommender.settings import SettingWish, choose_setting
from hoot.advisor.recommender.targets import load_targets
from hoot.bench.records import Measurement, Setting, SettingsKey
from hoot.cli.main import main

HW = {"hardware_id": "box-1", "cpu_model": "Test CPU", "gpu_name": "Test GPU"}
CPU = Setting(device="cpu", dtype="fp32", batch_size=1, threads=2)
CPU_T1 = dataclasses.replace(CPU, threads=1)
GPU_B1 = Setting(device="cuda:0", dtype="fp32", batch_size=1)
GPU_HALF = Setting(device="cuda:0", dtype="bf16", batch_size=64)
GPU_HALF_SMALL = dataclasses.replace(GPU_HALF, batch_size=8)
CPU_ORT = dataclasses.replace(CPU, runtime="onnxruntime")
CPU_INT8 = dataclasses.replace(CPU, runtime="int8")


def _m(variant: str, s: Setting, ms: float, converged: bool = True, peak: float | None = None) -> Measurement:
    key = SettingsKey(hardware_id="box-1", variant=variant, mode=s.mode, device=s.device, dtype=s.dtype,
                      batch_size=s.batch_size, input_size=s.input_size or 224, threads=s.threads or 2,
                      channels_last=s.channels_last, runtime=s.runtime, quick=s.quick)
    return Measurement(key=key, latency_ms=ms, converged=converged, peak_memory_mb=peak,
                       memory_kind="cuda_allocator" if s.device.startswith("cuda") else "cpu_rss")


SMALL = {"resnet18": 1.8, "resnet34": 3.7, "resnet50": 4.1, "mobilenet_v3_large": 0.22, "efficientnet_b0": 0.39}
STORE: dict[Setting, dict[str, Measurement]] = {
    CPU: {n: _m(n, CPU, 10 * g, converged=n != "resnet34") for n, g in SMALL.items()},
    CPU_T1: {n: _m(n, CPU_T1, 18 * g) for n, g in SMALL.items()},
    GPU_B1: {n: _m(n, GPU_B1, 2.0) for n in SMALL},
    GPU_HALF: {n: _m(n, GPU_HALF, 3 * g) for n, g in SMALL.items()},
    GPU_HALF_SMALL: {n: _m(n, GPU_HALF_SMALL, g) for n, g in SMALL.items()},
    CPU_ORT: {n: _m(n, CPU_ORT, 5 * g) for n, g in SMALL.items()},
    CPU_INT8: {"resnet18": _m("resnet18", CPU_INT8, 4.0)},
}


@dataclass(frozen=True)
class FakeRows:
    hardware: dict | None
    setting: Setting | None
    rows: dict
    note: str | None
    other_settings: tuple = ()


def fake_loader(store: dict[Setting, dict[str, Measurement]], default: Setting):
    """`load_measurements` over a dict of settings: the wanted setting's rows, the others listed."""
    def load(db: Any, hardware: str, wanted: Setting | None = None) -> FakeRows:
        chosen = wanted if wanted is not None else default
        rows = store.get(chosen, {})
        return FakeRows(HW, chosen if rows else None, rows, None, tuple(s for s in store if s != chosen))
    return load


fake_load = fake_loader(STORE, CPU)


@pytest.fixture
def store(monkeypatch):
    import hoot.bench.advice_inputs as advise_store

    monkeypatch.setattr(advise_store, "load_measurements", fake_load)


def advise(args: list[str], capsys) -> tuple[int, dict]:
    rc = main(["advise", "--format", "json", "--top", "100", *args])
    out, err = capsys.readouterr()
    return rc, (json.loads(out) if out.strip() else {"err": err})


def test_cpu_target_ranks_on_batch_1_fp32_cpu_rows_of_one_thread_count(store, capsys):
    rc, doc = advise(["--target", "cpu-server"], capsys)
    assert rc == 0
    assert doc["setting"] == CPU.label()
    lat = {p["name"]: p["latency_ms"] for p in doc["picks"]}
    assert lat["mobilenet_v3_large"] == pytest.approx(2.2)  # the 2-thread row, never the GPU's 2 ms
    rc, doc = advise(["--target", "cpu-server", "--threads", "1"], capsys)
    assert doc["setting"] == CPU_T1.label()
    assert {p["name"]: p["latency_ms"] for p in doc["picks"]}["mobilenet_v3_large"] == pytest.approx(18 * 0.22)


def test_gpu_server_defaults_to_the_throughput_batch_in_half_precision(store, capsys):
    rc, doc = advise(["--target", "gpu-server", "--task", "classification"], capsys)
    assert rc == 0 and doc["setting"] == GPU_HALF.label()
    assert "bf16 batch 64" in doc["setting"]
    rc, doc = advise(["--target", "gpu-server", "--batch-size", "1", "--dtype", "fp32"], capsys)
    assert doc["setting"] == GPU_B1.label()
    rc, doc = advise(["--target", "gpu-server", "--batch-size", "8"], capsys)
    assert doc["setting"] == GPU_HALF_SMALL.label()


def test_runtime_option_ranks_on_that_runtime(store, capsys):
    rc, doc = advise(["--target", "cpu-server", "--runtime", "onnxruntime"], capsys)
    assert doc["setting"] == CPU_ORT.label()


def test_unconverged_rows_are_said_in_the_output(store, capsys):
    rc, doc = advise([], capsys)
    assert doc["setting"] == GPU_B1.label()  # no target: batch-1 fp32, the GPU first
    rc, doc = advise(["--device", "cpu"], capsys)
    assert doc["setting"] == CPU.label()
    assert doc["figures"]["unconverged"] == ["resnet34"]
    assert any("did not converge" in n for n in doc["notes"])
    assert next(p for p in doc["picks"] if p["name"] == "resnet34")["converged"] is False


def test_after_selection_names_the_measured_speed_ups(store, capsys):
    rc, doc = advise(["--target", "cpu-server"], capsys)
    lines = [a for a in doc["after_selection"] if a.startswith("measured")]
    assert any("onnxruntime" in a and "2.00x" in a for a in lines), lines
    assert any("int8" in a and "resnet18 4.50x" in a for a in lines), lines
    assert any("seeds/002" in a for a in doc["after_selection"])  # the documents' advice stays, after the figures


def test_setting_choice_relaxes_only_the_targets_defaults():
    defaults = load_targets().targets["gpu-server"].measure
    fields, relaxed = choose_setting(SettingWish(), defaults, [CPU, GPU_B1])
    assert relaxed and fields["device"] == "cuda:0" and fields["batch_size"] == 1
    fields, relaxed = choose_setting(SettingWish(dtype="fp16"), defaults, [CPU, GPU_B1])
    assert not relaxed and fields["dtype"] == "fp16"  # the user's own choice is kept (nothing stored: estimates)
    fields, relaxed = choose_setting(SettingWish(), load_targets().targets["mobile"].measure, [GPU_B1, CPU, CPU_T1])
    assert (fields["device"], fields["threads"], relaxed) == ("cpu", 2, False)


def test_speedup_lines_and_recommend_put_them_first():
    ups = [RuntimeSpeedup("resnet18", "int8", 18.0, 6.0, "cpu fp32 batch 1"),
           RuntimeSpeedup("resnet50", "int8", 40.0, 20.0, "cpu fp32 batch 1")]
    lines = speedup_lines(ups, ["resnet50"])
    assert lines[0].startswith("measured int8 speed-up") and "2.00-3.00x over 2 models" in lines[0]
    assert lines[0].index("resnet50") < lines[0].index("resnet18")  # the picks first
    advice = recommend(Request(target="cpu-server"), speedups=ups)
    assert advice.after_selection[0] == speedup_lines(ups, [p.variant.name for p in advice.picks])[0]


@pytest.mark.parametrize("target", ["cpu-server", "gpu-server"])
def test_shortlist_candidates_rank_on_the_rows_advise_ranks_on(store, target, capsys):
    """One measurement loader (hoot.bench.advice_inputs) under advise and the shortlist's candidate
    picking: the same target and limits give the same picks, in the same order."""
    from hoot.trainer.orchestration.candidates import advised_candidates

    rc, doc = advise(["--target", target, "--max-latency-ms", "30", "--top", "3"], capsys)
    assert rc == 0, doc
    names, _ = advised_candidates("classification", 3, None, None, {"max_latency_ms": 30.0}, target=target)
    assert names == [p["name"] for p in doc["picks"]]


# --- on-device runtimes (issue 22): mobile and edge rank on the runtime their target names ---
EXECUTORCH = dataclasses.replace(CPU, runtime="executorch")
OPENVINO = dataclasses.replace(CPU, runtime="openvino")
MOBILE = {"mobilenet_v3_large": 4.0, "mobilenet_v3_small": 2.0, "shufflenet_v2_x1_0": 3.0, "efficientnet_b0": 8.0}


def _ondevice_store(monkeypatch, store: dict[Setting, dict[str, Measurement]]) -> None:
    import hoot.bench.advice_inputs as advise_store

    monkeypatch.setattr(advise_store, "load_measurements", fake_loader(store, CPU))


def _advise_ok(args: list[str], capsys) -> dict:
    rc, doc = advise(args, capsys)
    assert rc == 0, doc
    return doc


def test_mobile_and_edge_name_their_runtimes_and_why():
    book = load_targets()
    assert book.get("mobile").measure.runtimes == ("executorch", "litert", "eager")
    assert book.get("edge").measure.runtimes[0] == "litert" and book.get("edge").measure.runtimes[-1] == "eager"
    assert "ExecuTorch" in book.get("mobile").measure.rule and "LiteRT" in book.get("edge").measure.rule
    assert book.get("cpu-server").measure.runtimes == ("eager",)


def test_mobile_ranks_on_executorch_rows_when_stored(monkeypatch, capsys):
    _ondevice_store(monkeypatch, {CPU: {n: _m(n, CPU, ms, peak=50.0) for n, ms in MOBILE.items()},
                             EXECUTORCH: {n: _m(n, EXECUTORCH, ms / 5, peak=50.0) for n, ms in MOBILE.items()}})
    doc = _advise_ok(["--target", "mobile"], capsys)
    assert doc["setting"] == EXECUTORCH.label() and doc["setting"].endswith("executorch")
    assert {p["name"]: p["latency_ms"] for p in doc["picks"]}["mobilenet_v3_large"] == pytest.approx(0.8)
    assert "eager PyTorch's" not in (doc["store_note"] or "")
    assert any("executorch" in a and "5.00x" in a for a in doc["after_selection"])  # the measured speed-up
    assert _advise_ok(["--target", "mobile", "--runtime", "eager"], capsys)["setting"] == CPU.label()


def test_runtime_option_ranks_on_that_stored_setting(monkeypatch, capsys):
    _ondevice_store(monkeypatch, {CPU: {n: _m(n, CPU, ms, peak=50.0) for n, ms in MOBILE.items()},
                             OPENVINO: {n: _m(n, OPENVINO, ms / 6, peak=50.0) for n, ms in MOBILE.items()}})
    assert _advise_ok(["--target", "mobile", "--runtime", "openvino"], capsys)["setting"] == OPENVINO.label()


def test_without_ondevice_rows_mobile_ranks_on_eager_and_says_so(monkeypatch, capsys):
    _ondevice_store(monkeypatch, {CPU: {n: _m(n, CPU, ms, peak=50.0) for n, ms in MOBILE.items()}})
    doc = _advise_ok(["--target", "mobile"], capsys)
    assert doc["setting"] == CPU.label()
    assert "no executorch, litert rows stored" in doc["store_note"]
    assert "hoot bench --runtime executorch" in doc["store_note"]
