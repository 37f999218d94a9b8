"""Deployment runtimes: ONNX export, INT8 static quantisation, ONNX Runtime sessions.

Used by `hoot bench --runtime onnxruntime|int8` (catalog models, random weights, speed
only), `hoot optimize` (the fine-tuned winner, calibrated on its own images) and `hoot
export --format onnx`: `export_onnx` is hoot's ONE ONNX exporter, so every file hoot writes
names its input `image` and its output `logits` (or the names a task passes) and a serving
script written against one file reads them all. onnx and onnxruntime come with the `export`
extra and are imported only here, inside the functions.

INT8 route, chosen by measurement (one function for both commands): `quant_pre_process`, then
`quantize_static` with u8 activations x s8 per-channel weights, MinMax calibration,
`reduce_range` only on CPUs without VNNI. The format: on this project's 2-core Xeon (AVX-512
VNNI, AMX), resnet18 with random weights, 224 px, batch 1, 2 threads, 7 interleaved rounds of
20 calls (2026-11-24, machine busy with a CI run): ONNX Runtime fp32 33.2 ms, QDQ 13.3 ms,
QOperator 10.8 ms; the earlier helper runs under heavier load put the two formats level (23.8
vs 23.9 ms) or QOperator ahead (6.0 vs 26.4 ms). So QOperator is the default; QDQ stays
available (`fmt="qdq"`, optimize's `int8-qdq` variant). s8 activations were 2.7x (QDQ) to 12x
(QOperator) slower than u8 here and are not offered as a default.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Iterator

log = logging.getLogger(__name__)

OPSET = 17
#: the input and output names of every ONNX file hoot writes (a task with other outputs passes its own)
INPUT_NAME, OUTPUT_NAME = "image", "logits"
INT8_FORMATS = ("qoperator", "qdq")
DEFAULT_INT8_FORMAT = "qoperator"
CALIBRATION_METHODS = ("minmax", "percentile", "entropy")


def cpu_has_vnni() -> bool:
    """AVX-512 VNNI, AVX-VNNI or AMX: the integer dot-product instructions that make INT8 fast and
    let u8 x s8 products run without `reduce_range` (7-bit weights) saturating."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return False
    return "avx512_vnni" in flags or "avx_vnni" in flags or "amx_int8" in flags


@contextlib.contextmanager
def _scratch_cwd() -> Iterator[None]:
    """onnxruntime's shape inference saves sym_shape_infer_temp.onnx and its external data into the
    current folder when it fails: it runs in a scratch folder, never the user's (paths given absolute)."""
    previous = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="hoot-ort-") as scratch:
        os.chdir(scratch)
        try:
            yield
        finally:
            os.chdir(previous)


def export_onnx(model: Any, example: Any, path: str | Path, opset: int = OPSET, dynamic: bool = False,
                dynamic_batch: bool = False, output_names: tuple[str, ...] = (OUTPUT_NAME,)) -> Path:
    """Export `model(example)` to ONNX; returns `path`. The input is named INPUT_NAME, the outputs
    `output_names` (one per output the model returns; each output's first axis is the batch).
    `dynamic`: batch and image size are free (one file serves calibration, accuracy and timing);
    `dynamic_batch`: only the batch is free (what `hoot export` ships); else the example's shape.

    TorchScript-based exporter (dynamo=False): it needs no onnxscript and covers every
    torchvision classifier and segmenter at opset 17.
    """
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.eval()
    kwargs: dict[str, Any] = {"opset_version": opset, "input_names": [INPUT_NAME], "output_names": list(output_names),
                              "do_constant_folding": True}
    if dynamic or dynamic_batch:
        image_axes = {0: "batch", 2: "height", 3: "width"} if dynamic else {0: "batch"}
        kwargs["dynamic_axes"] = {INPUT_NAME: image_axes, **{name: {0: "batch"} for name in output_names}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's deprecation and tracer warnings
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


def _calibration_reader(calibration: Any, batch_size: int = 8) -> Any:
    """onnxruntime's CalibrationDataReader over a list of input arrays, or one (N,3,S,S) array in batches."""
    import numpy as np
    from onnxruntime.quantization import CalibrationDataReader

    if isinstance(calibration, np.ndarray):
        batches = [calibration[i:i + batch_size] for i in range(0, len(calibration), batch_size)]
    else:
        batches = list(calibration)
    if not batches:
        raise ValueError("INT8 quantisation needs at least one calibration batch")

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(batches)

        def get_next(self) -> dict[str, Any] | None:
            item = next(self.items, None)
            if item is None or isinstance(item, dict):
                return item
            return {INPUT_NAME: np.ascontiguousarray(item, dtype=np.float32)}

    return Reader()


def quantize_int8(onnx_path: str | Path, out_path: str | Path, calibration: Any, *, fmt: str = DEFAULT_INT8_FORMAT,
                  per_channel: bool = True, reduce_range: bool | None = None, method: str = "minmax",
                  activation_type: str = "u8", weight_type: str = "s8") -> Path:
    """Static post-training INT8 of an ONNX model with onnxruntime: `quant_pre_process` (shape
    inference, graph optimisation, BatchNorm folding), then `quantize_static` calibrated on
    `calibration` (a list of input arrays or one (N,3,S,S) float32 array: real images for a
    deployed model, `random_calibration(...)` for a speed-only bench). u8 activations x s8
    per-channel weights; `reduce_range` only on CPUs without VNNI (see the module docstring)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if fmt not in INT8_FORMATS:
        raise ValueError(f"int8 format '{fmt}' is not one of {INT8_FORMATS}")
    onnx_path, out_path = Path(onnx_path).absolute(), Path(out_path).absolute()  # shape inference runs elsewhere
    reader = _calibration_reader(calibration)
    if reduce_range is None:
        reduce_range = not cpu_has_vnni()
    pre = out_path.with_name(out_path.stem + ".pre.onnx")
    types = {"u8": QuantType.QUInt8, "s8": QuantType.QInt8}
    methods = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
               "entropy": CalibrationMethod.Entropy}
    extra: dict[str, Any] = {"CalibMovingAverage": False}
    if method == "percentile":
        extra["CalibPercentile"] = 99.999
    quant_logger = logging.getLogger()  # onnxruntime's quantiser logs warnings on the root logger
    level = quant_logger.level
    quant_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), _scratch_cwd():
            warnings.simplefilter("ignore")
            quant_pre_process(str(onnx_path), str(pre), skip_symbolic_shape=False)
        quantize_static(str(pre), str(out_path), reader,
                        quant_format=QuantFormat.QOperator if fmt == "qoperator" else QuantFormat.QDQ,
                        per_channel=per_channel, reduce_range=reduce_range, activation_type=types[activation_type],
                        weight_type=types[weight_type], calibrate_method=methods[method], extra_options=extra)
    finally:
        quant_logger.setLevel(level)
        pre.unlink(missing_ok=True)
        for stray in out_path.parent.glob("augmented_model*.onnx"):
            stray.unlink(missing_ok=True)
    return out_path


def quantized_op_counts(path: str | Path) -> dict[str, int]:
    """Which operators an ONNX graph holds (QLinearConv, ConvInteger, QuantizeLinear, ...): proof of what runs as int8."""
    import onnx

    counts: dict[str, int] = {}
    for node in onnx.load(str(path), load_external_data=False).graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return dict(sorted(counts.items()))


def ort_session(path: str | Path, threads: int, device: str = "cpu") -> Any:
    """An InferenceSession with `threads` intra-op threads (recorded with the timing), sequential
    execution, full graph optimisation: the CUDA execution provider on a GPU where this
    onnxruntime has it, else the CPU one. `session.get_providers()` says which ran."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = int(threads)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    providers: list[Any] = ["CPUExecutionProvider"]
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
