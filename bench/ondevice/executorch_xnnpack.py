"""ExecuTorch with the XNNPACK backend: PyTorch's own on-device runtime; ships a `.pte` file.

fp32: `torch.export` -> `to_edge_transform_and_lower` with the XNNPACK partitioner -> `.pte`.
INT8: PT2E with XNNPACK's quantizer (symmetric, per-channel weights), calibrated on the given
batches (and, given a fine-tune, trained quantisation-aware), then the same lowering. Runs through `executorch.runtime` (the Python API of the C++
runtime an app links) with XNNPACK's thread pool set to the thread count.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from hoot.bench.ondevice.base import (AccuracyGuard, Int8Finetune, Runner, UnsupportedModel, calibration_chunks, missing,
                                      native_stderr_to_debug_log, prepared, pt2e_quantize, python_output_to_debug_log,
                                      require)
from hoot.bench.runtimes import _first_line


class ExecuTorchXnnpack:
    name = "executorch-xnnpack"
    suffix = ".pte"
    guards_accuracy = False  # PT2E has no accuracy-aware mode: the row reports the change

    def unavailable_reason(self) -> str | None:
        return missing(("executorch", "torchao"), "ExecuTorch")

    def convert(self, module: Any, example_input: Any, out_path: Path,
                int8_calibration: Iterable[Any] | None = None, int8_guard: AccuracyGuard | None = None,
                int8_finetune: Int8Finetune | None = None) -> Path:
        module, example, out_path = prepared(self, module, example_input, out_path)
        import torch

        # ExecuTorch's native library prints (cpuinfo) while it loads: load it quietly
        with native_stderr_to_debug_log("ExecuTorch"):
            from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
            from executorch.exir import to_edge_transform_and_lower
            from executorch.extension.pybindings import portable_lib  # noqa: F401

        try:
            if int8_calibration is not None:
                from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
                    XNNPACKQuantizer, get_symmetric_quantization_config)

                qat = int8_finetune is not None
                quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True, is_qat=qat))
                module = pt2e_quantize(module, example, quantizer, calibration_chunks(int8_calibration, len(example)),
                                       finetune=int8_finetune)
            with warnings.catch_warnings(), python_output_to_debug_log("torch.export / ExecuTorch"):
                warnings.simplefilter("ignore")
                exported = torch.export.export(module, (example,))
                program = to_edge_transform_and_lower(exported, partitioner=[XnnpackPartitioner()]).to_executorch()
        except Exception as exc:  # noqa: BLE001 - the exporter's/lowering's refusal is the row's reason
            raise UnsupportedModel(f"ExecuTorch could not export or lower the model: {_first_line(exc)}") from exc
        out_path.write_bytes(program.buffer)
        return out_path

    def load(self, path: Path, threads: int) -> Runner:
        require(self)
        import torch

        with native_stderr_to_debug_log("ExecuTorch"):  # its native libraries print while they load
            from executorch.extension.pybindings.portable_lib import _unsafe_reset_threadpool
            from executorch.runtime import Runtime

            _unsafe_reset_threadpool(int(threads))  # XNNPACK's kernels run on this pool (process-wide)
            method = Runtime.get().load_program(Path(path)).load_method("forward")
        shape = tuple(method.metadata.input_tensor_meta(0).sizes())

        def run_chunk(x: np.ndarray) -> list[np.ndarray]:
            return [o.numpy() for o in method.execute([torch.from_numpy(x)]) if isinstance(o, torch.Tensor)]

        return Runner(run_chunk, tuple(int(d) for d in shape), {"runtime": "executorch", "backend": "xnnpack", "threads": int(threads)})
