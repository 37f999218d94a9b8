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

import torch
from torch import nn

log = logging.getLogger(__name__)

# ONNX export, ONNX Runtime sessions and the onnxruntime INT8 route live in hoot.bench.runtimes
# (shared with `hoot bench --runtime onnxruntime|int8`); this module adds the forms only a trained
# model needs.


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
