"""Deployment runtimes: ONNX export, INT8 static quantisation, ONNX Runtime sessions.

Used by `hoot bench --runtime onnxruntime|int8` (catalog models, random weights, speed
only) and meant for `hoot optimize` too (the fine-tuned winner, calibrated on its own
images). onnx and onnxruntime come with the `export` extra and are imported only here,
inside the functions.

INT8 route, chosen by measurement on this 2-core AMD EPYC (AVX-512 VNNI), resnet18 batch 1,
2 threads, under load from other jobs: ONNX Runtime fp32 56-60 ms; after
`quant_pre_process`, `quantize_static` with per-channel int8 weights gave QDQ + uint8
activations 23.8 ms, QOperator + uint8 23.9 ms, QDQ + int8 activations (onnxruntime's
default, issue 13's slower figure) 64 ms, QOperator + int8 292 ms. So: pre-processing,
QDQ, uint8 activations, int8 per-channel weights.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any, Iterable

log = logging.getLogger(__name__)

OPSET = 17
INPUT_NAME = "input"


def export_onnx(model: Any, example: Any, path: str | Path, opset: int = OPSET) -> Path:
    """Export `model(example)` to ONNX at a fixed input shape (dynamic batch off); returns `path`.

    TorchScript-based exporter (dynamo=False): it needs no onnxscript and covers every
    torchvision classifier and segmenter at opset 17.
    """
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's deprecation and tracer warnings
        kwargs: dict[str, Any] = {"opset_version": opset, "input_names": [INPUT_NAME], "do_constant_folding": True}
        try:
            torch.onnx.export(model, (example,), str(path), dynamo=False, **kwargs)
        except TypeError:  # an older torch without the dynamo switch
            torch.onnx.export(model, (example,), str(path), **kwargs)
    return path


def random_calibration(shape: tuple[int, ...], count: int, seed: int = 0) -> list[Any]:
    """`count` seeded standard-normal inputs: calibration for a speed-only INT8 model."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(np.float32) for _ in range(count)]


def quantize_int8(onnx_path: str | Path, out_path: str | Path, calibration_batches: Iterable[Any]) -> Path:
    """Static post-training INT8 quantisation of an ONNX model (see the module docstring for the route).

    `calibration_batches` are numpy arrays fed as the model's input (real images for a
    deployed model; `random_calibration(...)` for a speed-only bench). Returns `out_path`.
    """
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    onnx_path, out_path = Path(onnx_path), Path(out_path)
    batches = list(calibration_batches)
    if not batches:
        raise ValueError("quantize_int8 needs at least one calibration batch")
    pre = out_path.with_name(out_path.stem + ".pre.onnx")
    quant_pre_process(str(onnx_path), str(pre), skip_symbolic_shape=True)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(batches)

        def get_next(self) -> dict[str, Any] | None:
            item = next(self.items, None)
            return None if item is None else (item if isinstance(item, dict) else {INPUT_NAME: item})

    quant_logger = logging.getLogger()  # onnxruntime's quantiser logs warnings on the root logger
    level = quant_logger.level
    quant_logger.setLevel(logging.ERROR)
    try:
        quantize_static(str(pre), str(out_path), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8)
    finally:
        quant_logger.setLevel(level)
        pre.unlink(missing_ok=True)
    return out_path


def ort_session(path: str | Path, threads: int, device: str = "cpu") -> Any:
    """An InferenceSession with `threads` intra-op threads: CUDA execution provider on a GPU where
    this onnxruntime has it, else the CPU one. `session.get_providers()` says which ran."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = int(threads)
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    providers = ["CPUExecutionProvider"]
    if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
        index = int(device.split(":")[1]) if ":" in device else 0
        providers = [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
    return ort.InferenceSession(str(path), options, providers=providers)


def ort_call(model: Any, example: Any, runtime: str, threads: int, device: str, folder: str | Path,
             calibration_batches: int = 8) -> tuple[Any, dict[str, Any]]:
    """(a no-argument call running `model` at `example`'s shape in ONNX Runtime, facts for the row).

    `runtime` is 'onnxruntime' (fp32) or 'int8'. Exports on the CPU; any failure raises
    with the step that failed in the message (export / quantise / session).
    """
    import time

    import numpy as np

    folder = Path(folder)
    cpu_model = model.to("cpu").eval()
    x = example.detach().to("cpu").contiguous()
    t0 = time.perf_counter()
    try:
        path = export_onnx(cpu_model, x, folder / "model.onnx")
    except Exception as exc:
        raise RuntimeError(f"ONNX export failed: {_first_line(exc)}") from exc
    if runtime == "int8":
        try:
            path = quantize_int8(path, folder / "model.int8.onnx",
                                 random_calibration(tuple(x.shape), calibration_batches, seed=0))
        except Exception as exc:
            raise RuntimeError(f"INT8 quantisation failed: {_first_line(exc)}") from exc
    prepare_s = time.perf_counter() - t0
    try:
        session = ort_session(path, threads, device)
    except Exception as exc:
        raise RuntimeError(f"ONNX Runtime session failed: {_first_line(exc)}") from exc
    if device.startswith("cuda") and session.get_providers()[0] != "CUDAExecutionProvider":
        raise RuntimeError("this onnxruntime has no CUDA execution provider (install onnxruntime-gpu), "
                           "or measure ONNX Runtime with --device cpu")
    feed = {session.get_inputs()[0].name: np.ascontiguousarray(x.numpy())}
    facts = {"onnx_file_mb": round(path.stat().st_size / 2**20, 3), "prepare_s": round(prepare_s, 3),
             "providers": ",".join(session.get_providers())}
    return (lambda: session.run(None, feed)), facts


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300] if text else ''}"
