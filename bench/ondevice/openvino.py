"""OpenVINO for Intel CPUs and edge boxes; ships an IR pair (`.xml` graph + `.bin` weights).

fp32: `openvino.convert_model` straight from the torch module at the example's static shape,
saved uncompressed (`compress_to_fp16=False`: the figures are fp32's). INT8: nncf's
post-training `quantize` on the converted model, calibrated on the given batches, with its overflow
fix on every layer (7-bit weights): on a CPU without VNNI (AVX2, or AVX-512 without VNNI; many edge
boxes) the int8 kernels add u8 x s8 pairs in 16 bits, which saturate with 8-bit weights. nncf's
default fixes only the first layer; on this project's AMD EPYC (AVX2) that file lost 4.1 points of
top-1 on mobilenet_v3_small and 5.5 on shufflenet_v2_x1_0, against 2.5 and +0.6 with the fix on
every layer. A file built here may run on a box without VNNI, so the fix is not left to this host's CPU.
Given an AccuracyGuard (a split the reported figure does not come from, and the task's metric), INT8
is nncf's `quantize_with_accuracy_control` instead: the same quantisation, then the layers whose
int8 form costs the most go back to fp32 one group at a time until the file is within the guard's
`max_drop` of fp32 on the guard's images. Given a fine-tune (quantisation-aware training), nncf
quantises the torch module instead, the fine-tune trains its fake quantisers' weights, and the
converter writes them as the IR's FakeQuantize nodes. Runs through `openvino.Core().compile_model(..., "CPU")`
with INFERENCE_NUM_THREADS fixed.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from hoot.bench.ondevice.base import (AccuracyGuard, Int8Finetune, Runner, UnsupportedModel, calibration_chunks, missing, prepared,
                                      python_output_to_debug_log, require)
from hoot.bench.runtimes import _first_line


def _nncf_int8() -> tuple[Any, Any]:
    """nncf (or the row's reason naming the extra), its logs quiet, and the parameters both INT8 routes
    quantise with: the overflow fix on every layer (module docstring)."""
    if reason := missing(("nncf",), "OpenVINO INT8"):
        raise UnsupportedModel(reason)
    import nncf
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, OverflowFix

    logging.getLogger("nncf").setLevel(logging.ERROR)
    return nncf, AdvancedQuantizationParameters(overflow_fix=OverflowFix.ENABLE)


def _quantize(nncf: Any, model: Any, chunks: list[np.ndarray], guard: AccuracyGuard | None, batch: int,
              advanced: Any) -> Any:
    """nncf's post-training INT8, accuracy-aware with a guard. The guard's validation items are indices
    into its images, so the metric of any subset nncf asks for (it ranks layers image by image) is the
    task's own metric."""
    if guard is None:
        return nncf.quantize(model, nncf.Dataset(chunks), subset_size=len(chunks), advanced_parameters=advanced)

    def validate(compiled: Any, items: Iterable[int]) -> tuple[float, None]:
        idx = np.fromiter(items, dtype=np.int64)

        def predict(x: np.ndarray) -> np.ndarray:  # the file's batch shape, image group by image group
            return np.concatenate([compiled(np.ascontiguousarray(x[i:i + batch]))[0] for i in range(0, len(x), batch)])

        return float(guard.score(predict, idx)), None

    validation = nncf.Dataset(list(range(len(guard))), guard.input_of)
    return nncf.quantize_with_accuracy_control(model, nncf.Dataset(chunks), validation, validate,
                                               max_drop=guard.max_drop, subset_size=len(chunks),
                                               advanced_quantization_parameters=advanced)


def _root(module: Any) -> Any:
    """`module` under a plain root module: nncf hangs its hook storage on the root it is given, and an
    `nn.Sequential` root would then call that storage as one of its layers (NotImplementedError: HookStorage
    is missing the required "forward" function)."""
    import torch

    class Root(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> Any:
            return self.inner(x)

    return Root(module)


def _quantize_aware(module: Any, chunks: list[np.ndarray], finetune: Int8Finetune) -> Any:
    """nncf's quantisation-aware training for PyTorch: `nncf.quantize` on the torch module (the same
    presets and overflow fix as the post-training route) returns it with FakeQuantize operations,
    `finetune` trains it, and `convert_model` turns them into the IR's FakeQuantize nodes (the INT8 file)."""
    import copy
    import os

    import torch

    nncf, advanced = _nncf_int8()
    # nncf compiles its fake-quantise kernels (a C++ torch extension) on first use, about 40 s on a 2-core VM,
    # and gives up after 60 s by default: a busy machine would lose the row. Without a compiler it falls back
    # to torch operations (slower training, same file). Read when the extension loads, not at import.
    os.environ.setdefault("NNCF_EXTENSION_LOAD_TIMEOUT", "900")
    data = nncf.Dataset([torch.from_numpy(c) for c in chunks])
    try:
        with warnings.catch_warnings(), python_output_to_debug_log("nncf"):
            warnings.simplefilter("ignore")
            quantized = nncf.quantize(_root(copy.deepcopy(module)).eval(), data, subset_size=len(chunks),
                                      advanced_parameters=advanced)
    except Exception as exc:  # noqa: BLE001
        raise UnsupportedModel(f"nncf could not quantise the model for training: {_first_line(exc)}") from exc
    finetune(quantized)
    return quantized.eval()


class OpenVino:
    name = "openvino"
    suffix = ".xml"
    guards_accuracy = True

    def unavailable_reason(self) -> str | None:
        return missing(("openvino",), "OpenVINO")

    def convert(self, module: Any, example_input: Any, out_path: Path,
                int8_calibration: Iterable[Any] | None = None, int8_guard: AccuracyGuard | None = None,
                int8_finetune: Int8Finetune | None = None) -> Path:
        module, example, out_path = prepared(self, module, example_input, out_path)
        import openvino as ov

        if int8_calibration is not None and int8_finetune is not None:
            module = _quantize_aware(module, calibration_chunks(int8_calibration, int(example.shape[0])), int8_finetune)
            int8_calibration = None  # the fake quantisers are in the module: convert_model makes them the IR's
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = ov.convert_model(module, example_input=example, input=[tuple(example.shape)])
        except Exception as exc:  # noqa: BLE001 - the converter's refusal is the row's reason
            raise UnsupportedModel(f"OpenVINO could not convert the model: {_first_line(exc)}") from exc
        if int8_calibration is not None:
            nncf, advanced = _nncf_int8()
            chunks = calibration_chunks(int8_calibration, int(example.shape[0]))
            try:
                with python_output_to_debug_log("nncf"):  # its progress bars would land in hoot's table or JSON
                    model = _quantize(nncf, model, chunks, int8_guard, int(example.shape[0]), advanced)
            except Exception as exc:  # noqa: BLE001
                raise UnsupportedModel(f"nncf could not quantise the model: {_first_line(exc)}") from exc
        ov.save_model(model, str(out_path), compress_to_fp16=False)
        return out_path

    def load(self, path: Path, threads: int) -> Runner:
        require(self)
        import openvino as ov

        core = ov.Core()
        compiled = core.compile_model(core.read_model(str(path)), "CPU",
                                      {"INFERENCE_NUM_THREADS": int(threads), "PERFORMANCE_HINT": "LATENCY"})
        request = compiled.create_infer_request()
        shape = tuple(int(d) for d in compiled.inputs[0].get_shape())

        def run_chunk(x: np.ndarray) -> list[np.ndarray]:
            result = request.infer({0: x})
            return [np.asarray(result[out]) for out in compiled.outputs]

        return Runner(run_chunk, shape, {"runtime": "openvino", "device": "CPU", "threads": int(threads),
                                         "precision_hint": str(compiled.get_property("INFERENCE_PRECISION_HINT"))})
