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


def test_openvino_int8_with_a_guard_stays_within_its_drop_on_the_guard_images(tmp_path: Path) -> None:
    """Given an AccuracyGuard, OpenVINO INT8 is nncf's accuracy control. Here the metric is agreement with
    the fp32 model's class on 24 images, max drop 0: plain INT8 of this net (a linear layer over the
    flattened features, so the top two logits are close on some images) flips one of them; the
    guarded file keeps a layer in fp32 and flips none."""
    from hoot.bench.ondevice.base import AccuracyGuard

    rt = installed("openvino")
    if reason := missing(("nncf",), "OpenVINO INT8"):
        pytest.skip(reason)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, stride=4, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(256, 10)).eval()
    cal, val = images(16, seed=1), images(24, seed=2)
    want = eager_outputs(model, val)[0].argmax(1)
    asked: list[int] = []

    def agreement(predict, idx: np.ndarray) -> float:
        asked.append(len(idx))
        return float((predict(val[idx]).argmax(1) == want[idx]).mean())

    example = torch.from_numpy(cal[:1])
    plain = rt.convert(model, example, tmp_path / "plain.xml", int8_calibration=[cal])
    guarded = rt.convert(model, example, tmp_path / "guarded.xml", int8_calibration=[cal],
                         int8_guard=AccuracyGuard(len(val), lambda i: val[i:i + 1], agreement, max_drop=0.0))
    assert (rt.load(plain, threads=1)(val).argmax(1) != want).any()  # the case needs the guard
    assert (rt.load(guarded, threads=1)(val).argmax(1) == want).all()
    fake_quantize = [p.read_text().count('type="FakeQuantize"') for p in (plain, guarded)]
    assert fake_quantize[1] < fake_quantize[0]  # what it kept in fp32
    assert 24 in asked and 1 in asked  # the whole split, and image by image (nncf's ranking)
    assert "'overflow_fix': 'enable'" in guarded.read_text()
    assert "<max_drop" in guarded.read_text() and "<max_drop" not in plain.read_text()  # what nncf records


def test_optimize_gives_the_guard_to_the_runtimes_that_use_it(tmp_path: Path, monkeypatch) -> None:
    """Only a runtime that `guards_accuracy` gets the validation split's guard, and only for INT8; the row says how."""
    from hoot.bench.ondevice.base import AccuracyGuard
    from hoot.trainer.deploy.optimize.ondevice_variants import ONDEVICE_BUILDERS
    from hoot.trainer.deploy.optimize.variants import BuildContext

    seen: dict[str, object] = {}
    tuned: dict[str, object] = {}

    class Fake:
        suffix = ".bin"

        def __init__(self, name: str, guards: bool) -> None:
            self.name, self.guards_accuracy = name, guards

        def unavailable_reason(self):
            return None

        def convert(self, module, example, out_path, int8_calibration=None, int8_guard=None, int8_finetune=None):
            seen[out_path.name] = int8_guard
            tuned[out_path.name] = int8_finetune
            return out_path

        def load(self, path, threads):
            return Runner(lambda x: [x.mean(axis=(2, 3))], (1, 3, 32, 32), {})

    import hoot.trainer.deploy.optimize.ondevice_variants as ov

    monkeypatch.setitem(ov.RUNTIMES, "openvino", Fake("openvino", True))
    monkeypatch.setitem(ov.RUNTIMES, "litert", Fake("litert", False))
    guard = AccuracyGuard(4, lambda i: images(1, seed=i), lambda predict, idx: 1.0)

    class Finetune:  # what run.py's factory makes: one per QAT variant, its record in the row
        def __init__(self) -> None:
            self.record = {"kept_epoch": len(made)}
            made.append(self)

    made: list = []
    ctx = BuildContext(tiny_net(), tmp_path, 32, images(8), 1, torch.device("cpu"), guard=guard, qat=Finetune)
    rows = {name: ONDEVICE_BUILDERS[name](ctx) for name in ("openvino", "openvino-int8", "litert", "litert-int8",
                                                            "openvino-int8-qat", "litert-int8-qat")}
    assert seen == {"model.openvino.bin": None, "model.openvino.int8.bin": guard, "model.bin": None, "model.int8.bin": None,
                    "model.openvino.int8.qat.bin": None, "model.int8.qat.bin": None}  # QAT: trained, not guarded
    assert tuned == {"model.openvino.bin": None, "model.openvino.int8.bin": None, "model.bin": None,
                     "model.int8.bin": None, "model.openvino.int8.qat.bin": made[0], "model.int8.qat.bin": made[1]}
    assert rows["openvino-int8-qat"].details["qat"] == {"kept_epoch": 0} and rows["litert-int8-qat"].precision == "int8"
    assert rows["openvino-int8-qat"].details["route"].startswith("QAT: ")
    assert "accuracy_control" in rows["openvino-int8"].details["route"]
    assert "within 1 point(s) of fp32 on the 4 validation images" in rows["openvino-int8"].details["route"]
    assert "accuracy" not in rows["litert-int8"].details["route"]


def test_int8_qat_trains_the_fake_quantised_model_and_ships_what_it_learned(runtime, tmp_path: Path) -> None:
    """Quantisation-aware INT8: the adapter hands the fine-tune a module carrying its own fake quantisers (in eval
    mode: BatchNorm frozen), once, and the file it writes answers as the trained module does. The fine-tune here
    teaches every image class 3, which the untrained net gives to few of them."""
    model, x = tiny_net(), images(24, seed=2)
    calls: list[str] = []

    def finetune(module: nn.Module) -> None:
        calls.append(type(module).__name__)
        kinds = {type(m).__name__ for m in module.modules()}
        assert any("FakeQuantize" in k or "FQ" in k or "Quantizer" in k for k in kinds), sorted(kinds)
        opt = torch.optim.SGD([p for p in module.parameters() if p.requires_grad], lr=0.05, momentum=0.9)
        target = torch.full((8,), 3)
        for step in range(60):
            batch = torch.from_numpy(x[(step % 3) * 8:(step % 3) * 8 + 8])
            loss = nn.functional.cross_entropy(module(batch), target)
            opt.zero_grad()
            loss.backward()
            opt.step()

    before = (eager_outputs(model, x)[0].argmax(1) == 3).mean()
    path = runtime.convert(model, torch.from_numpy(x[:1]), tmp_path / f"qat{runtime.suffix}",
                           int8_calibration=[x[:8]], int8_finetune=finetune)
    got = runtime.load(path, threads=1)(images(16, seed=3))
    assert len(calls) == 1 and before < 0.5
    assert (got.argmax(1) == 3).mean() >= 0.9
    assert (eager_outputs(model, x)[0].argmax(1) == 3).mean() == before  # the caller's model is untouched
