"""OpenVINO for Intel CPUs and edge boxes; ships an IR pair (`.xml` graph + `.bin` weights).

fp32: `openvino.convert_model` straight from the torch module at the example's static shape,
saved uncompressed (`compress_to_fp16=False`: the figures are fp32's). INT8: nncf's
post-training `quantize` on the converted model, calibrated on the given batches, with its overflow
fix on every layer (7-bit weights): on a CPU without VNNI (AVX2, or AVX-512 without VNNI; many edge
boxes) the int8 kernels add u8 x s8 pairs in 16 bits, which saturate with 8-bit weights. nncf's
default fixes only the first layer; on this project's AMD EPYC (AVX2) that file lost 4.1 points of
top-1 on mobilenet_v3_small and 5.5 on shufflenet_v2_x1_0, against 2.5 and +0.6 with the fix on
every layer. A file built here may run on a box without VNNI, so the fix is not left to this host's CPU. Runs through
`openvino.Core().compile_model(..., "CPU")` with INFERENCE_NUM_THREADS fixed.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from hoot.bench.ondevice.base import Runner, UnsupportedModel, calibration_chunks, missing, prepared, require
from hoot.bench.runtimes import _first_line


class OpenVino:
    name = "openvino"
    suffix = ".xml"

    def unavailable_reason(self) -> str | None:
        return missing(("openvino",), "OpenVINO")

    def convert(self, module: Any, example_input: Any, out_path: Path,
                int8_calibration: Iterable[Any] | None = None) -> Path:
        module, example, out_path = prepared(self, module, example_input, out_path)
        import openvino as ov

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = ov.convert_model(module, example_input=example, input=[tuple(example.shape)])
        except Exception as exc:  # noqa: BLE001 - the converter's refusal is the row's reason
            raise UnsupportedModel(f"OpenVINO could not convert the model: {_first_line(exc)}") from exc
        if int8_calibration is not None:
            if reason := missing(("nncf",), "OpenVINO INT8"):
                raise UnsupportedModel(reason)
            import nncf

            logging.getLogger("nncf").setLevel(logging.ERROR)
            from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, OverflowFix

            chunks = calibration_chunks(int8_calibration, int(example.shape[0]))
            try:
                model = nncf.quantize(model, nncf.Dataset(chunks), subset_size=len(chunks),
                                      advanced_parameters=AdvancedQuantizationParameters(overflow_fix=OverflowFix.ENABLE))
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
