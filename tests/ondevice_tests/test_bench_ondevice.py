"""`hoot bench --runtime executorch|litert|openvino`: rows of their own setting, timed through each
runtime's own API; a missing package is one `hoot: error:` line naming the extra."""

from __future__ import annotations

import pytest

from hoot.advisor.errors import HootError
from hoot.bench.jobs import BenchJob, RowMessage
from hoot.bench.ondevice.bench_call import adapter
from hoot.bench.records import ONDEVICE_RUNTIMES, RUNTIMES
from hoot.bench.runner import RunOptions
from hoot.testing.bench_rows import FAKE_BUILDER

HW = "test-cpu-00000000"


def job(runtime: str) -> BenchJob:
    return BenchJob(hardware_id=HW, variant="resnet18", family="ResNet", task="classification", device="cpu",
                    dtype="fp32", input_size=32, native_input=False, threads=1, channels_last=False, runtime=runtime,
                    quick=True, pairs=(("inference", 1),), builder=FAKE_BUILDER, calibration_batches=2)


@pytest.mark.parametrize("runtime", ONDEVICE_RUNTIMES)
def test_ondevice_rows_on_a_tiny_model(runtime):
    reason = adapter(runtime).unavailable_reason()
    if reason:
        pytest.skip(reason)
    from hoot.bench.worker import run_job

    sent: list = []
    run_job(job(runtime), sent.append)
    (m,) = [s.measurement for s in sent if isinstance(s, RowMessage)]
    assert m.status == "ok", m.error
    assert m.key.runtime == runtime and m.key.device == "cpu" and m.latency_ms > 0
    assert m.extra["onnx_file_mb"] > 0 and m.extra["prepare_s"] > 0


def test_ondevice_runtimes_are_settings_of_their_own():
    assert set(ONDEVICE_RUNTIMES) <= set(RUNTIMES)
    with pytest.raises(HootError, match="drop --dtype"):
        RunOptions(device="cpu", dtype="bf16", runtimes=("executorch",))


def test_a_missing_runtime_package_is_one_error_naming_the_extra(monkeypatch):
    monkeypatch.setattr(type(adapter("litert")), "unavailable_reason",
                        lambda self: "LiteRT needs the Python package(s) ai_edge_litert: pip install 'hoot[ondevice]'")
    with pytest.raises(HootError, match=r"hoot\[ondevice\]"):
        RunOptions(device="cpu", runtimes=("litert",))
