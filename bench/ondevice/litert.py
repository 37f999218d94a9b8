"""LiteRT (formerly TensorFlow Lite); ships a `.tflite` flatbuffer.

fp32: `litert_torch.convert` (torch.export, then the LiteRT converter) at the example's static
shape; the input stays NCHW as in PyTorch. INT8: PT2E with litert-torch's own quantizer
(symmetric, per-channel weights, static activations) calibrated on the given batches, passed
to the converter as its `QuantConfig`, which makes a fully-int8 file (int8 input and output;
without the config the converter keeps float convolutions between quantize/dequantize pairs).
The runner quantises the input and dequantises the outputs with the file's own parameters.
Quantisation-aware INT8 uses the QAT config's fake quantisers but not its conv+BatchNorm annotators:
under torchao 0.18 they fail to build their patterns (`Expected mod to be an instance of
torch.nn.Module`), and hoot's QAT folds BatchNorm into the convolutions first (base._fold_batchnorm),
so there is no such pair left to annotate.
Before INT8, every `nn.Hardswish` becomes the same function written as `x * hardsigmoid(x)`: the
converter turns a hardswish into an int8 HARD_SWISH that the XNNPACK delegate does not take, which
cut mobilenet_v3_small into 20 delegate partitions and made its INT8 file 4x slower than fp32
(5.28 ms vs 1.27 ms at 224 px, 2 threads); written as a product, the gate stays a small float island
inside one delegated graph (1.63 ms). Runs through `ai_edge_litert.interpreter.Interpreter`
(the Python API of the runtime an Android app links; XNNPACK delegate) with `num_threads`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import warnings
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from hoot.bench.ondevice.base import (AccuracyGuard, Int8Finetune, Runner, UnsupportedModel, calibration_chunks, missing,
                                      native_stderr_to_debug_log, prepared, pt2e_quantize, python_output_to_debug_log,
                                      require)
from hoot.bench.runtimes import _first_line


@contextlib.contextmanager
def _quiet():
    """litert-torch prints a progress tree and absl logs on every conversion; a hoot command keeps its own output."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    level = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), python_output_to_debug_log("litert-torch"):
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.getLogger().setLevel(level)


def hardswish_as_gate(module: Any) -> Any:
    """A copy of `module` with each `nn.Hardswish` as `x * hardsigmoid(x)`, the same function (so fp32 outputs are
    unchanged), in a form LiteRT's INT8 file keeps inside one XNNPACK partition; the caller's module is untouched."""
    import copy

    import torch

    class HardswishGate(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * torch.nn.functional.hardsigmoid(x)

    if not any(isinstance(m, torch.nn.Hardswish) for m in module.modules()):
        return module
    module = copy.deepcopy(module)
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, torch.nn.Hardswish):
                setattr(parent, name, HardswishGate())
    return module


def _to_file_dtype(x: np.ndarray, detail: dict) -> np.ndarray:
    """A fully-int8 file takes int8 input: quantise with the file's own scale and zero point, as the app would."""
    if detail["dtype"] == np.float32:
        return x
    scale, zero = detail["quantization"]
    info = np.iinfo(detail["dtype"])
    return np.clip(np.round(x / scale + zero), info.min, info.max).astype(detail["dtype"])


def _to_float(y: np.ndarray, detail: dict) -> np.ndarray:
    if detail["dtype"] == np.float32:
        return y
    scale, zero = detail["quantization"]
    return (y.astype(np.float32) - zero) * scale


class LiteRt:
    name = "litert"
    suffix = ".tflite"
    guards_accuracy = False  # PT2E has no accuracy-aware mode: the row reports the change

    def unavailable_reason(self) -> str | None:
        return missing(("ai_edge_litert", "litert_torch"), "LiteRT")

    def convert(self, module: Any, example_input: Any, out_path: Path,
                int8_calibration: Iterable[Any] | None = None, int8_guard: AccuracyGuard | None = None,
                int8_finetune: Int8Finetune | None = None) -> Path:
        module, example, out_path = prepared(self, module, example_input, out_path)
        try:
            with _quiet():
                import litert_torch

                kwargs: dict[str, Any] = {}
                if int8_calibration is not None:
                    from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config
                    from litert_torch.quantize.quant_config import QuantConfig

                    config = get_symmetric_quantization_config(is_per_channel=True, is_qat=int8_finetune is not None)
                    if config.is_qat:  # fake quantisers, without the conv+BN annotators (module docstring)
                        config = dataclasses.replace(config, is_qat=False)
                    quantizer = PT2EQuantizer().set_global(config)
                    module = pt2e_quantize(hardswish_as_gate(module), example, quantizer, calibration_chunks(int8_calibration, len(example)),
                                           fold_quantize=False, finetune=int8_finetune)
                    kwargs["quant_config"] = QuantConfig(pt2e_quantizer=quantizer)
                litert_torch.convert(module, (example,), **kwargs).export(str(out_path))
        except Exception as exc:  # noqa: BLE001 - the converter's refusal is the row's reason
            raise UnsupportedModel(f"LiteRT could not convert the model: {_first_line(exc)}") from exc
        return out_path

    def load(self, path: Path, threads: int) -> Runner:
        require(self)
        from ai_edge_litert.interpreter import Interpreter

        with native_stderr_to_debug_log("LiteRT"):
            interpreter = Interpreter(model_path=str(path), num_threads=int(threads))
            interpreter.allocate_tensors()
        inp = interpreter.get_input_details()[0]
        outs = sorted(interpreter.get_output_details(), key=lambda d: d["name"])

        def run_chunk(x: np.ndarray) -> list[np.ndarray]:
            interpreter.set_tensor(inp["index"], _to_file_dtype(x, inp))
            interpreter.invoke()
            return [_to_float(interpreter.get_tensor(o["index"]), o) for o in outs]

        return Runner(run_chunk, tuple(int(d) for d in inp["shape"]), {"runtime": "litert", "delegate": "xnnpack", "threads": int(threads)})
