"""`hoot export RUN --format onnx|torchscript`: the trained model for deployment (seeds/002:
ONNX for ONNX Runtime/TensorRT after selection). The ONNX file comes from hoot's one exporter
(bench.runtimes.export_onnx: input `image`, output `logits`, the batch free) and is checked
against PyTorch's output on the run's test images with onnxruntime when it is installed (the
task says how outputs compare: Task.check_export); a mismatch is an error, not a warning. `hoot optimize` writes its own files under `<run>/optimize/`, so neither command
replaces the other's."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch

from hoot.advisor.errors import HootError
from hoot.bench.runtimes import INPUT_NAME, OPSET, export_onnx
from hoot.trainer.data.inputs import load_images
from hoot.trainer.data.pipeline import Normalizer
from hoot.trainer.deploy.trained import load_trained
from hoot.trainer.runfiles import ensure_writable_dir
from hoot.trainer.tasks import get_task
from hoot.trainer.tasks.base import ExportMismatch, ExportNames
from hoot.trainer.training.context import run_splits

FORMATS = ("onnx", "torchscript")
FORMAT_NAMES = {"onnx": "ONNX", "torchscript": "TorchScript"}
ONNX_OPSET = OPSET


def export_run(run_dir: Path, fmt: str, out: Path | None = None, atol: float = 1e-3) -> dict:
    """Write the export next to the run (or to `out`); returns path, size and the check's figures."""
    if fmt not in FORMATS:
        raise HootError(f"--format '{fmt}' is not one of {', '.join(FORMATS)}")
    if out is not None:  # before any work: a bad --out is answered at once
        if Path(out).is_dir():
            raise HootError(f"--out '{out}' is a folder; give a file name such as {Path(out) / 'model.onnx'}")
        ensure_writable_dir(Path(out).parent, "--out folder")
    model, meta = load_trained(run_dir)
    size = int(meta["image_size"])
    task = get_task(meta["task"])
    x, source = check_input(run_dir, meta)
    with torch.no_grad():
        expected = task.export_outputs(model, x).numpy()
    path = Path(out) if out else run_dir / f"model.{'onnx' if fmt == 'onnx' else 'torchscript.pt'}"
    result = {"format": fmt, "path": str(path), "variant": meta["variant"], "image_size": size,
              "mean": meta["mean"], "std": meta["std"], "classes": meta["classes"]}
    final, path = path, path.with_name(f".{path.name}.{os.getpid()}.tmp")  # renamed once checked
    try:
        got, checked_with = _export(model, fmt, path, x, task.export_names)
        if got is not None:
            try:
                result["check"] = {"checked_with": checked_with, "input": source, **task.check_export(model, got, expected, atol)}
            except ExportMismatch as exc:
                raise HootError(f"{FORMAT_NAMES[fmt]} export of '{final.name}' {exc}; try --format "
                                f"{'torchscript' if fmt == 'onnx' else 'onnx'} or report the model") from None
        else:
            result["check"] = {"checked_with": None, "note": checked_with}
        os.replace(path, final)
    finally:
        path.unlink(missing_ok=True)
    result["size_mb"] = round(final.stat().st_size / 2**20, 3)
    return result


def check_input(run_dir: Path, meta: dict, count: int = 2) -> tuple[torch.Tensor, str]:
    """The images an export is checked on: the run's first test images, normalised as in training
    (a detector on noise finds near-ties only, so its check would say little); random pixels when
    the data folder is gone, which the result says."""
    size = int(meta["image_size"])
    try:
        paths = [s.path for s in run_splits(run_dir).test[:count]]
        pixels = load_images(paths, size) if paths else None
    except HootError:
        pixels = None
    if pixels is None:
        gen = torch.Generator().manual_seed(0)
        return torch.randn(count, 3, size, size, generator=gen), "random pixels (the run's test images are not readable)"
    if len(pixels) < count:  # the exported batch stays free: check with a batch of `count`
        pixels = np.concatenate([pixels] * count)[:count]
    return Normalizer(meta["mean"], meta["std"])(torch.from_numpy(pixels)), f"{min(count, len(paths))} test image(s)"


def _export(model: torch.nn.Module, fmt: str, path: Path, x: torch.Tensor,
            names: ExportNames = ExportNames()) -> tuple[np.ndarray | None, str]:
    """Write the file; its output on `x` read back with the runtime (None and why, when the runtime is absent)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporters' deprecation chatter is not the user's problem
        if fmt == "onnx":
            export_onnx(model, x, path, dynamic_batch=True, output_names=tuple(names.outputs))
            try:
                import onnxruntime as ort
            except ImportError:
                return None, "onnxruntime not installed: output not checked"
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            return session.run(None, {INPUT_NAME: x.numpy()})[0], f"onnxruntime {ort.__version__}"
        traced = torch.jit.trace(model, x)
        traced.save(str(path))
        return torch.jit.load(str(path))(x).detach().numpy(), "torch.jit.load"
