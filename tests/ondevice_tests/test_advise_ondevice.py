"""`hoot advise --target mobile|edge` ranks on the on-device runtime its target names when the store has
its rows, names that runtime in the setting, and says so when it falls back to eager PyTorch."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

import pytest

from hoot.advisor.recommender.targets import load_targets
from hoot.bench.records import Measurement, Setting, SettingsKey
from hoot.cli.main import main

HW = {"hardware_id": "box-1", "cpu_model": "Test CPU", "gpu_name": None}
EAGER = Setting(device="cpu", dtype="fp32", batch_size=1, threads=2)
EXECUTORCH = dataclasses.replace(EAGER, runtime="executorch")
OPENVINO = dataclasses.replace(EAGER, runtime="openvino")
MODELS = {"mobilenet_v3_large": 4.0, "mobilenet_v3_small": 2.0, "shufflenet_v2_x1_0": 3.0, "efficientnet_b0": 8.0}


def _m(variant: str, s: Setting, ms: float) -> Measurement:
    key = SettingsKey(hardware_id="box-1", variant=variant, mode="inference", device="cpu", dtype="fp32", batch_size=1,
                      input_size=224, threads=2, channels_last=False, runtime=s.runtime, quick=False)
    return Measurement(key=key, latency_ms=ms, converged=True, peak_memory_mb=50.0, memory_kind="cpu_rss")


@dataclass(frozen=True)
class FakeRows:
    hardware: dict | None
    setting: Setting | None
    rows: dict
    note: str | None
    other_settings: tuple = ()


def fake_store(monkeypatch, store: dict[Setting, dict[str, Measurement]]) -> None:
    import hoot.cli.advise_store as advise_store

    def load(db: Any, hardware: str, wanted: Setting | None = None) -> FakeRows:
        chosen = wanted if wanted is not None else EAGER
        rows = store.get(chosen, {})
        return FakeRows(HW, chosen if rows else None, rows, None, tuple(s for s in store if s != chosen))

    monkeypatch.setattr(advise_store, "load_measurements", load)


def advise(args: list[str], capsys) -> dict:
    assert main(["advise", "--format", "json", "--top", "100", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_mobile_and_edge_name_their_runtimes_and_why():
    book = load_targets()
    assert book.get("mobile").measure.runtimes == ("executorch", "litert", "eager")
    assert book.get("edge").measure.runtimes[0] == "litert" and book.get("edge").measure.runtimes[-1] == "eager"
    assert "ExecuTorch" in book.get("mobile").measure.rule and "LiteRT" in book.get("edge").measure.rule
    assert book.get("cpu-server").measure.runtimes == ("eager",)


def test_mobile_ranks_on_executorch_rows_when_stored(monkeypatch, capsys):
    fake_store(monkeypatch, {EAGER: {n: _m(n, EAGER, ms) for n, ms in MODELS.items()},
                             EXECUTORCH: {n: _m(n, EXECUTORCH, ms / 5) for n, ms in MODELS.items()}})
    doc = advise(["--target", "mobile"], capsys)
    assert doc["setting"] == EXECUTORCH.label() and doc["setting"].endswith("executorch")
    assert {p["name"]: p["latency_ms"] for p in doc["picks"]}["mobilenet_v3_large"] == pytest.approx(0.8)
    assert "eager PyTorch's" not in (doc["store_note"] or "")
    assert any("executorch" in a and "5.00x" in a for a in doc["after_selection"])  # the measured speed-up
    assert advise(["--target", "mobile", "--runtime", "eager"], capsys)["setting"] == EAGER.label()


def test_runtime_option_ranks_on_that_stored_setting(monkeypatch, capsys):
    fake_store(monkeypatch, {EAGER: {n: _m(n, EAGER, ms) for n, ms in MODELS.items()},
                             OPENVINO: {n: _m(n, OPENVINO, ms / 6) for n, ms in MODELS.items()}})
    assert advise(["--target", "mobile", "--runtime", "openvino"], capsys)["setting"] == OPENVINO.label()


def test_without_ondevice_rows_mobile_ranks_on_eager_and_says_so(monkeypatch, capsys):
    fake_store(monkeypatch, {EAGER: {n: _m(n, EAGER, ms) for n, ms in MODELS.items()}})
    doc = advise(["--target", "mobile"], capsys)
    assert doc["setting"] == EAGER.label()
    assert "no executorch, litert rows stored" in doc["store_note"]
    assert "hoot bench --runtime executorch" in doc["store_note"]
