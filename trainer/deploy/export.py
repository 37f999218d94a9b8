"""`hoot export RUN --format onnx|torchscript`: the trained model for deployment (seeds/002:
ONNX for ONNX Runtime/TensorRT after selection). The ONNX file comes from hoot's one exporter
(bench.runtimes.export_onnx: input `image`, output `logits`, the batch free) and is checked
against PyTorch's output with onnxruntime when it is installed; a mismatch is an error, not a
warning. `hoot optimize` writes its own files under `<run>/optimize/`, so neither command
replaces the other's."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch

from hoot.advisor.errors import HootError
from hoot.bench.runtimes import INPUT_NAME, OPSET, export_onnx
from hoot.trainer.runfiles import ensure_writable_dir
from hoot.trainer.deploy.trained import load_trained
from hoot.trainer.tasks import get_task
from hoot.trainer.tasks.base import ExportNames

FORMATS = ("onnx", "torchscript")
ONNX_OPSET = OPSET


def export_run(run_dir: Path, fmt: str, out: Path | None = None, atol: float = 1e-3) -> dict:
    """Write the export next to the run (or to `out`); returns path, size and the check's max abs diff."""
    if fmt not in FORMATS:
        raise HootError(f"--format '{fmt}' is not one of {', '.join(FORMATS)}")
    if out is not None:  # before any work: a bad --out is answered at once
        if Path(out).is_dir():
            raise HootError(f"--out '{out}' is a folder; give a file name such as {Path(out) / 'model.onnx'}")
        ensure_writable_dir(Path(out).parent, "--out folder")
    model, meta = load_trained(run_dir)
    size = int(meta["image_size"])
    task = get_task(meta["task"])
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = task.export_outputs(model, x).numpy()
    path = Path(out) if out else run_dir / f"model.{'onnx' if fmt == 'onnx' else 'torchscript.pt'}"
    result = {"format": fmt, "path": str(path), "variant": meta["variant"], "image_size": size,
              "mean": meta["mean"], "std": meta["std"], "classes": meta["classes"]}
    final, path = path, path.with_name(f".{path.name}.{os.getpid()}.tmp")  # renamed once checked
    try:
        result["check"] = _export(model, fmt, path, x, expected, atol, task.export_names)
        os.replace(path, final)
    finally:
        path.unlink(missing_ok=True)
    result["size_mb"] = round(final.stat().st_size / 2**20, 3)
    return result


def _export(model: torch.nn.Module, fmt: str, path: Path, x: torch.Tensor, expected: np.ndarray, atol: float,
            names: ExportNames = ExportNames()) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporters' deprecation chatter is not the user's problem
        if fmt == "onnx":
            export_onnx(model, x, path, dynamic_batch=True, output_names=tuple(names.outputs))
            return _check_onnx(path, x.numpy(), expected, atol)
        traced = torch.jit.trace(model, x)
        traced.save(str(path))
        got = torch.jit.load(str(path))(x).detach().numpy()
        return {"max_abs_diff": float(np.abs(got - expected).max()), "checked_with": "torch.jit.load"}


def _check_onnx(path: Path, x: np.ndarray, expected: np.ndarray, atol: float) -> dict:
    try:
        import onnxruntime as ort
    except ImportError:
        return {"checked_with": None, "note": "onnxruntime not installed: output not checked"}
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {INPUT_NAME: x})[0]
    if got.shape != expected.shape:  # a detector's boxes: a different count is a disagreement, not a crash
        raise HootError(f"ONNX export of '{path.name.split('.tmp')[0].lstrip('.')}' gives output {got.shape} where "
                        f"PyTorch gives {expected.shape}; try --format torchscript or report the model")
    diff = float(np.abs(got - expected).max()) if got.size else 0.0
    # float32 kernels differ in summation order: tolerance relative to the logits' scale
    limit = atol * max(1.0, float(np.abs(expected).max()))
    if diff > limit or not np.array_equal(got.argmax(1), expected.argmax(1)):
        raise HootError(f"ONNX export of '{path.name.split('.tmp')[0].lstrip('.')}' disagrees with PyTorch (max abs diff {diff:.2e} > {limit:.2e}); "
                        "try --format torchscript or report the model")
    return {"checked_with": f"onnxruntime {ort.__version__}", "max_abs_diff": diff, "tolerance": limit}
