"""Each on-device runtime on a tiny conv net at 32 px: the file it writes loads in the runtime's own
Python API and gives eager's logits (fp32) and top-1 (INT8); missing packages skip with the extra named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from hoot.bench.ondevice import RUNTIMES, Runner, UnsupportedModel
from hoot.bench.ondevice.base import INSTALL_HINT, eager_outputs, missing


def tiny_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 5)).eval()


class TwoHeads(nn.Module):
    """A dict of two outputs, as torchvision's segmenters return {'out', 'aux'}."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        y = self.body(x)
        return {"out": y, "aux": y.mean(dim=(2, 3))}


def images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, 3, 32, 32)).astype(np.float32)


def installed(name: str):
    """The runtime `name`, or the test skipped with the extra to install."""
    rt = RUNTIMES[name]
    reason = rt.unavailable_reason()
    if reason:
        pytest.skip(reason)
    return rt


@pytest.fixture(params=sorted(RUNTIMES), scope="module")
def runtime(request):
    return installed(request.param)


def test_fp32_file_loads_and_matches_eager(runtime, tmp_path: Path) -> None:
    model, x = tiny_net(), images(4)
    path = runtime.convert(model, torch.from_numpy(x[:1]), tmp_path / f"model{runtime.suffix}")
    assert path.is_file() and path.suffix == runtime.suffix
    if runtime.name == "openvino":
        assert path.with_suffix(".bin").is_file()
    runner = runtime.load(path, threads=1)
    assert isinstance(runner, Runner) and runner.batch == 1
    got, want = runner(x), eager_outputs(model, x)[0]  # a batch of 4 runs as four batch-1 calls
    assert got.shape == want.shape == (4, 5)
    np.testing.assert_allclose(got, want, atol=1e-3, rtol=1e-3)


def test_loading_prints_nothing_on_stderr(runtime, tmp_path: Path, capfd) -> None:
    """Issue 21: stderr carries hoot's lines; the runtimes' native loaders (ExecuTorch's threadpool
    and cpuinfo lines, LiteRT's delegate notice) print into the debug log instead."""
    model, x = tiny_net(), images(1)
    path = runtime.convert(model, torch.from_numpy(x), tmp_path / f"model{runtime.suffix}")
    capfd.readouterr()
    runner = runtime.load(path, threads=1)
    runner(x)
    assert capfd.readouterr().err == ""


def test_int8_runs_and_keeps_top1(runtime, tmp_path: Path) -> None:
    model, x = tiny_net(), images(16, seed=1)
    fp32 = runtime.load(runtime.convert(model, torch.from_numpy(x[:1]), tmp_path / f"fp{runtime.suffix}"), threads=1)
    path = runtime.convert(model, torch.from_numpy(x[:1]), tmp_path / f"int8{runtime.suffix}",
                           int8_calibration=[x[:8], x[8:]])
    int8 = runtime.load(path, threads=1)(x)
    assert int8.shape == (16, 5) and np.isfinite(int8).all()
    ref = eager_outputs(model, x)[0]
    assert not np.array_equal(int8, fp32(x))  # quantised: not the fp32 graph again
    assert (int8.argmax(1) == ref.argmax(1)).mean() >= 0.75
    assert np.abs(int8 - ref).max() < 0.25 * np.abs(ref).max() + 0.05


def test_all_outputs_of_a_dict_model(runtime, tmp_path: Path) -> None:
    model, x = TwoHeads().eval(), images(1)
    try:
        path = runtime.convert(model, torch.from_numpy(x), tmp_path / f"heads{runtime.suffix}")
    except UnsupportedModel as exc:
        pytest.skip(f"{runtime.name} does not take a two-output model: {exc}")
    got = sorted(runtime.load(path, threads=1).outputs(x), key=lambda a: a.ndim)
    want = sorted(eager_outputs(model, x), key=lambda a: a.ndim)
    assert [g.shape for g in got] == [w.shape for w in want]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=1e-3, rtol=1e-3)


def test_a_model_the_runtime_cannot_take_is_a_typed_error(runtime, tmp_path: Path) -> None:
    class Untraceable(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise NotImplementedError("aten::imaginary_op has no kernel here")

    with pytest.raises(UnsupportedModel, match="could not"):
        runtime.convert(Untraceable().eval(), torch.from_numpy(images(1)), tmp_path / f"bad{runtime.suffix}")


def test_a_missing_package_names_the_extra() -> None:
    reason = missing(("hoot_no_such_runtime_package",), "Imaginary")
    assert reason is not None and "hoot_no_such_runtime_package" in reason and INSTALL_HINT in reason
    assert missing(("numpy",), "numpy") is None


def test_litert_int8_keeps_a_hardswish_net_in_one_xnnpack_partition(tmp_path: Path) -> None:
    """Issue 22: an int8 HARD_SWISH is an op XNNPACK does not take, so each one split the graph (mobilenet_v3's INT8
    file ran 4x slower than fp32); the converter now gets hardswish as x * hardsigmoid(x), the same function."""
    from hoot.bench.ondevice.litert import hardswish_as_gate

    rt = installed("litert")
    from ai_edge_litert.interpreter import Interpreter

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Hardswish(), nn.Conv2d(8, 8, 1), nn.Hardswish(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5)).eval()
    x = images(16, seed=1)
    with torch.no_grad():
        torch.testing.assert_close(hardswish_as_gate(model)(torch.from_numpy(x)), model(torch.from_numpy(x)))
    path = rt.convert(model, torch.from_numpy(x[:1]), tmp_path / "hswish.tflite", int8_calibration=[x])
    assert isinstance(model[1], nn.Hardswish)  # the caller's module is not rewritten
    interpreter = Interpreter(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    ops = [o["op_name"] for o in interpreter._get_ops_details()]
    assert ops.count("DELEGATE") == 1 and "HARD_SWISH" not in ops, ops
    int8, ref = rt.load(path, threads=1)(x), eager_outputs(model, x)[0]
    assert (int8.argmax(1) == ref.argmax(1)).mean() >= 0.75


def test_openvino_int8_fixes_overflow_on_every_layer(tmp_path: Path) -> None:
    """Issue 22: without VNNI the CPU plugin adds u8 x s8 pairs in 16 bits; with nncf's default (first layer only)
    shufflenet_v2_x1_0 lost 5.5 points on an AVX2 EPYC. The IR records the parameters nncf quantised with."""
    rt = installed("openvino")
    if reason := missing(("nncf",), "OpenVINO INT8"):
        pytest.skip(reason)
    x = images(8)
    path = rt.convert(tiny_net(), torch.from_numpy(x[:1]), tmp_path / "int8.xml", int8_calibration=[x])
    assert "'overflow_fix': 'enable'" in path.read_text()
