"""The deployment variants `hoot optimize` knows, and how each is built into something to time.

A builder takes a `BuildContext` and returns a `Built` (a predict callable, the shippable file
if there is one, what it is). A builder that cannot run here raises `Skip(reason)` (no GPU,
TensorRT not installed); any other exception becomes an error row. Neither stops the others.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from hoot.advisor.errors import HootError
from hoot.bench import runtimes
from hoot.trainer.deploy.optimize import building
from hoot.trainer.deploy.optimize.scoring import Predict

log = logging.getLogger(__name__)

# The default INT8 route, chosen by measurement on a 2-core AVX-512 VNNI/AMX Xeon (docs/optimize.md):
# onnxruntime's quantize_static after quant_pre_process, QOperator format, u8 activations x s8
# per-channel weights, MinMax calibration: resnet18 at 224 px ran 3.1x faster than ONNX Runtime fp32.
# builders registered by ondevice_variants.py (imported by run.py)
ONDEVICE = ("executorch-xnnpack", "executorch-xnnpack-int8", "litert", "litert-int8", "openvino", "openvino-int8")
#: quantisation-aware INT8 (trainer/deploy/optimize/qat.py): on request only, as they train for --qat-epochs each
ONDEVICE_QAT = ("executorch-xnnpack-int8-qat", "litert-int8-qat", "openvino-int8-qat")
VARIANTS = ("eager", "compile", "onnxruntime", "int8", "int8-qdq", "int8-pt2e", "fp16", "bf16", "tensorrt") + ONDEVICE \
    + ONDEVICE_QAT
DEFAULT_VARIANTS = ("eager", "compile", "onnxruntime", "int8", "fp16", "bf16", "tensorrt") + ONDEVICE
REFERENCE = "eager"
#: the folder (under the run or --out) optimize's shippable files go to: never the run's own
#: model.onnx, which is `hoot export`'s (issue 17: optimize replaced it, with another input name)
FILES_FOLDER = "optimize"


class Skip(Exception):
    """The variant cannot run on this machine (not a failure of the model): the row says why."""


@dataclass
class BuildContext:
    """What every builder needs; `calibration` is normalised float32 from the training split."""

    model: nn.Module
    out_dir: Path
    image_size: int
    calibration: np.ndarray
    threads: int
    device: torch.device
    onnx_path: Path | None = None  # set once the fp32 ONNX file exists (int8 builds on it)
    task: Any = None  # the run's Task (hoot.trainer.tasks.base): what a variant returns and its file's output names
    guard: Any = None  # bench.ondevice.base.AccuracyGuard on the validation split: what accuracy-aware INT8 may tune on
    qat: Callable[[], Any] | None = None  # a fresh qat.QatFinetune per variant (None: the run cannot train, e.g. no cache)

    def torch_outputs(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """What a PyTorch variant returns: the task's exported form (a detector's rows), so every variant
        of a run answers in the form its shipped file does."""
        return self.task.export_outputs(model, x) if self.task is not None else model(x)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(self.task.export_names.outputs) if self.task is not None else (runtimes.OUTPUT_NAME,)

    @property
    def files_dir(self) -> Path:
        """Where this optimize run's ONNX files go: `<out_dir>/optimize/`."""
        return self.out_dir / FILES_FOLDER


@dataclass
class Built:
    predict: Predict
    runtime: str
    precision: str
    device: str
    file: Path | None = None
    sync: Callable[[], None] | None = None
    details: dict = field(default_factory=dict)


def parse_variants(text: str) -> list[str]:
    """'eager,int8' -> ['eager', 'int8'] in the order given; the reference always first."""
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in VARIANTS]
    if bad or not names:
        raise HootError(f"--variants '{text}': unknown variant '{bad[0] if bad else ''}'; choose from {', '.join(VARIANTS)}")
    if len(set(names)) != len(names):
        raise HootError(f"--variants '{text}' names a variant twice; name each once")
    return [REFERENCE] + [n for n in names if n != REFERENCE]


def _torch_predict(model: nn.Module, ctx: BuildContext, dtype: torch.dtype = torch.float32) -> Predict:
    def predict(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = ctx.torch_outputs(model, torch.from_numpy(x).to(device=ctx.device, dtype=dtype))
        return out.float().cpu().numpy()
    return predict


def _sync(device: torch.device) -> Callable[[], None] | None:
    return (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else None


def build_eager(ctx: BuildContext) -> Built:
    model = ctx.model.to(ctx.device).eval()
    return Built(_torch_predict(model, ctx), "pytorch", "fp32", str(ctx.device), sync=_sync(ctx.device))


def build_compile(ctx: BuildContext) -> Built:
    model = ctx.model.to(ctx.device).eval()
    example = torch.from_numpy(ctx.calibration[:1]).to(ctx.device)
    compiled = building.compile_model(model, example)
    return Built(_torch_predict(compiled, ctx), "pytorch-compile", "fp32", str(ctx.device), sync=_sync(ctx.device),
                 details={"backend": "inductor"})


def _ensure_onnx(ctx: BuildContext) -> Path:
    if ctx.onnx_path is None or not ctx.onnx_path.is_file():
        example = torch.randn(1, 3, ctx.image_size, ctx.image_size, generator=torch.Generator().manual_seed(0))
        ctx.onnx_path = runtimes.export_onnx(ctx.model.cpu().eval(), example, ctx.files_dir / "model.onnx", dynamic=True,
                                             output_names=ctx.output_names)
    return ctx.onnx_path


def _ort_built(path: Path, ctx: BuildContext, precision: str, details: dict, cpu_only: bool = False) -> Built:
    session = runtimes.ort_session(path, ctx.threads, "cpu" if cpu_only else ctx.device.type)
    name = session.get_inputs()[0].name
    details = {**details, "providers": session.get_providers()}
    return Built(lambda x: session.run(None, {name: x})[0], "onnxruntime", precision,
                 "cuda" if session.get_providers()[0].startswith("CUDA") else "cpu", file=path, details=details)


def build_onnxruntime(ctx: BuildContext) -> Built:
    return _ort_built(_ensure_onnx(ctx), ctx, "fp32", {"opset": runtimes.OPSET})


def _build_ort_int8(ctx: BuildContext, fmt: str, filename: str) -> Built:
    fp32 = _ensure_onnx(ctx)
    reduce_range = not runtimes.cpu_has_vnni()
    path = runtimes.quantize_int8(fp32, ctx.files_dir / filename, ctx.calibration, fmt=fmt, reduce_range=reduce_range)
    details = {"route": "onnxruntime quantize_static", "format": fmt, "per_channel": True, "reduce_range": reduce_range,
               "calibration": "minmax", "activations": "u8", "weights": "s8",
               "calibration_images": int(len(ctx.calibration)), "vnni": runtimes.cpu_has_vnni(),
               "ops": runtimes.quantized_op_counts(path)}
    return _ort_built(path, ctx, "int8", details, cpu_only=True)  # ONNX Runtime's int8 kernels are the CPU EP's


def build_int8(ctx: BuildContext) -> Built:
    return _build_ort_int8(ctx, "qoperator", "model.int8.onnx")


def build_int8_qdq(ctx: BuildContext) -> Built:
    return _build_ort_int8(ctx, "qdq", "model.int8.qdq.onnx")


def build_int8_pt2e(ctx: BuildContext) -> Built:
    if ctx.device.type != "cpu":
        raise Skip("PT2E with the x86 Inductor quantiser targets the CPU")
    model = ctx.model.cpu().eval()
    example = torch.from_numpy(ctx.calibration[:1])
    try:
        compiled = building.pt2e_int8(model, torch.from_numpy(ctx.calibration), example)
    except ImportError as exc:
        raise Skip(f"PT2E quantisation needs torchao here ({exc}); pip install torchao") from None
    return Built(_torch_predict(compiled, ctx), "pytorch-pt2e", "int8", "cpu",
                 details={"route": "PT2E X86InductorQuantizer + torch.compile", "per_channel": True,
                          "calibration_images": int(len(ctx.calibration))})


def _build_half(ctx: BuildContext, dtype: torch.dtype) -> Built:
    if ctx.device.type != "cuda":
        raise Skip("half precision is measured on a GPU only (no CUDA device here)")
    model = building.half_model(ctx.model, dtype, ctx.device)
    return Built(_torch_predict(model, ctx, dtype), "pytorch", str(dtype).replace("torch.", ""), str(ctx.device),
                 sync=_sync(ctx.device))


def build_fp16(ctx: BuildContext) -> Built:
    return _build_half(ctx, torch.float16)


def build_bf16(ctx: BuildContext) -> Built:
    return _build_half(ctx, torch.bfloat16)


def build_tensorrt(ctx: BuildContext) -> Built:
    if ctx.device.type != "cuda":
        raise Skip("TensorRT needs an NVIDIA GPU (no CUDA device here)")
    try:
        import torch_tensorrt  # noqa: F401
    except ImportError:
        raise Skip("torch-tensorrt is not installed (pip install torch-tensorrt)") from None
    example = torch.from_numpy(ctx.calibration[:1]).to(ctx.device)
    engine = building.tensorrt_engine(ctx.model, example)
    return Built(_torch_predict(engine, ctx), "tensorrt", "fp16", str(ctx.device), sync=_sync(ctx.device))


BUILDERS: dict[str, Callable[[BuildContext], Built]] = {
    "eager": build_eager, "compile": build_compile, "onnxruntime": build_onnxruntime, "int8": build_int8,
    "int8-qdq": build_int8_qdq, "int8-pt2e": build_int8_pt2e, "fp16": build_fp16, "bf16": build_bf16,
    "tensorrt": build_tensorrt,
}
