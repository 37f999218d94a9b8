"""Build the deployment forms of a trained model: ONNX, an ONNX Runtime session, INT8 (two
routes), torch.compile, half precision. One small function per form, each self-contained, so a
variant that fails costs only its own row.

INT8 routes (seeds/002: "FP32 to INT8 for 2-4x speedup with minimal accuracy loss"):
- ONNX Runtime's static quantiser: `quant_pre_process` (shape inference, graph optimisation,
  BatchNorm folding) and then `quantize_static` with per-channel weights. On x86 with VNNI,
  u8 activations x s8 weights in the QOperator format run as fused integer kernels; QDQ leaves
  Quantize/Dequantize pairs for ORT to fuse at load. `reduce_range` (7-bit weights) is only
  needed on CPUs without VNNI, where u8 x s8 products can saturate.
- PyTorch's PT2E: `torch.export` -> `prepare_pt2e` with X86InductorQuantizer -> calibrate ->
  `convert_pt2e` -> `torch.compile` (oneDNN int8 kernels through Inductor).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

log = logging.getLogger(__name__)

ONNX_OPSET = 17
INPUT_NAME, OUTPUT_NAME = "image", "logits"
INT8_FORMATS = ("qoperator", "qdq")
CALIBRATION_METHODS = ("minmax", "percentile", "entropy")


def cpu_has_vnni() -> bool:
    """AVX-512 VNNI or AVX-VNNI: integer dot-product instructions the INT8 kernels need to be fast."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return False
    return "avx512_vnni" in flags or "avx_vnni" in flags or "amx_int8" in flags


def export_onnx(model: nn.Module, path: Path, image_size: int, opset: int = ONNX_OPSET) -> Path:
    """fp32 ONNX with a dynamic batch and image size (one file serves calibration, accuracy and timing)."""
    x = torch.randn(1, 3, image_size, image_size, generator=torch.Generator().manual_seed(0))
    axes = {INPUT_NAME: {0: "batch", 2: "height", 3: "width"}, OUTPUT_NAME: {0: "batch"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation chatter is not the user's problem
        torch.onnx.export(model.eval(), (x,), str(path), dynamo=False, input_names=[INPUT_NAME],
                          output_names=[OUTPUT_NAME], dynamic_axes=axes, opset_version=opset)
    return path


def ort_providers(device: str = "cpu") -> list[str]:
    """CUDA execution provider first when asked for and present, CPU always as the fallback."""
    import onnxruntime as ort

    if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def ort_session(path: Path, threads: int, providers: list[str] | None = None):
    """An InferenceSession with a fixed intra-op thread count (recorded with the timing) and full graph optimisation."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=providers or ["CPUExecutionProvider"])


class _Calibration:
    """onnxruntime's CalibrationDataReader over an in-memory float32 array, in small batches."""

    def __init__(self, images: np.ndarray, batch_size: int = 8) -> None:
        self.batches = [images[i:i + batch_size] for i in range(0, len(images), batch_size)]
        self.pos = 0

    def get_next(self):
        if self.pos >= len(self.batches):
            return None
        self.pos += 1
        return {INPUT_NAME: np.ascontiguousarray(self.batches[self.pos - 1], dtype=np.float32)}

    def rewind(self) -> None:
        self.pos = 0


def quantize_int8(fp32_path: Path, out_path: Path, calibration: np.ndarray, *, fmt: str = "qoperator",
                  per_channel: bool = True, reduce_range: bool | None = None, method: str = "minmax",
                  activation_type: str = "u8", weight_type: str = "s8") -> Path:
    """Static post-training INT8 with onnxruntime: pre-process, then calibrate on `calibration` (N,3,S,S float32)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if fmt not in INT8_FORMATS:
        raise ValueError(f"int8 format '{fmt}' is not one of {INT8_FORMATS}")
    if reduce_range is None:
        reduce_range = not cpu_has_vnni()
    pre_path = out_path.with_name(out_path.stem + ".pre.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quant_pre_process(str(fp32_path), str(pre_path), skip_symbolic_shape=False)
    types = {"u8": QuantType.QUInt8, "s8": QuantType.QInt8}
    methods = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
               "entropy": CalibrationMethod.Entropy}
    extra = {"CalibMovingAverage": False}
    if method == "percentile":
        extra["CalibPercentile"] = 99.999
    try:
        quantize_static(str(pre_path), str(out_path), _Calibration(calibration),
                        quant_format=QuantFormat.QOperator if fmt == "qoperator" else QuantFormat.QDQ,
                        per_channel=per_channel, reduce_range=reduce_range, activation_type=types[activation_type],
                        weight_type=types[weight_type], calibrate_method=methods[method], extra_options=extra)
    finally:
        pre_path.unlink(missing_ok=True)
        for stray in out_path.parent.glob("augmented_model*.onnx"):
            stray.unlink(missing_ok=True)
    return out_path


def quantized_op_counts(path: Path) -> dict[str, int]:
    """Which operators the INT8 graph holds (QLinearConv, ConvInteger, QuantizeLinear, ...): proof of what ran as int8."""
    import onnx

    counts: dict[str, int] = {}
    for node in onnx.load(str(path), load_external_data=False).graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return dict(sorted(counts.items()))


def compile_model(model: nn.Module, example: torch.Tensor) -> nn.Module:
    """torch.compile (Inductor), compiled once on `example` so the first timed call is not the compile."""
    compiled = torch.compile(model, dynamic=False)
    with torch.inference_mode():
        compiled(example)
    return compiled


def pt2e_int8(model: nn.Module, calibration: torch.Tensor, example: torch.Tensor) -> nn.Module:
    """PT2E static INT8 with the x86 Inductor quantiser (per-channel weights), then torch.compile."""
    try:  # PT2E quantisation moved from torch.ao to torchao (torch >= 2.10)
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
        from torchao.quantization.pt2e.quantizer.x86_inductor_quantizer import (
            X86InductorQuantizer, get_default_x86_inductor_quantization_config)
    except ImportError:
        from torch.ao.quantization.quantize_pt2e import convert_pt2e, prepare_pt2e
        from torch.ao.quantization.quantizer.x86_inductor_quantizer import (
            X86InductorQuantizer, get_default_x86_inductor_quantization_config)

    quantizer = X86InductorQuantizer()
    quantizer.set_global(get_default_x86_inductor_quantization_config())  # weights per-channel symmetric s8
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exported = torch.export.export(model.eval(), (example,)).module()
        prepared = prepare_pt2e(exported, quantizer)
        with torch.no_grad():
            for i in range(0, len(calibration), 8):
                prepared(calibration[i:i + 8])
        converted = convert_pt2e(prepared)
    with torch.no_grad():
        compiled = torch.compile(converted)
        compiled(example)
    return compiled


def half_model(model: nn.Module, dtype: torch.dtype, device: torch.device) -> nn.Module:
    """A copy in fp16/bf16 on `device` (half precision is what a GPU server pays)."""
    import copy

    return copy.deepcopy(model).to(device=device, dtype=dtype).eval()


def tensorrt_engine(model: nn.Module, example: torch.Tensor) -> nn.Module:
    """torch-tensorrt compile (fp16 allowed); ImportError where TensorRT is not installed. Unproven here: no GPU."""
    import torch_tensorrt  # noqa: F401 - the ImportError is the row's reason

    return torch.compile(model.cuda().eval(), backend="tensorrt",
                         options={"enabled_precisions": {torch.float16, torch.float32}})
