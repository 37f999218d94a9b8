"""The one interface every on-device runtime adapter meets, and what the adapters share.

An adapter turns any torch module plus an example input into the file a phone or an edge box
ships (`convert`), and runs that file through the runtime's own Python API at a fixed thread
count (`load`). The file is built at the example's shape (a phone answers one image at a
time: batch 1); a `Runner` called on a larger batch runs it in chunks of that shape, so
throughput on a batch is sequential calls, said so in the row. Missing packages and models a
runtime cannot take raise typed errors whose one-line message becomes the row's reason.
Heavy runtime packages are imported inside the adapters' functions only.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import logging
import os
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Protocol, runtime_checkable

import numpy as np

from hoot.advisor.errors import HootError

log = logging.getLogger(__name__)

#: the pip extra that installs every on-device runtime (pyproject.toml)
EXTRA = "ondevice"
INSTALL_HINT = f"pip install 'hoot[{EXTRA}]'"


class RuntimeMissing(HootError):
    """The runtime's package is not installed: the message names the extra that installs it."""


class UnsupportedModel(RuntimeError):
    """This runtime cannot take this model or one of its operators: the message is the row's reason."""


@dataclass(frozen=True)
class AccuracyGuard:
    """What an INT8 converter that can keep layers in fp32 needs to hold the file within `max_drop`
    of fp32: images of a split that does NOT give the reported figure (a run's validation split), and
    the task's metric of a predict callable over some of them. nncf's accuracy control uses it
    (OpenVINO); a route without such a control takes it and says so in its row."""

    count: int  # images in the split
    input_of: Callable[[int], np.ndarray]  # image i as the file takes it (normalised float32, batch 1): made on demand
    score: Callable[[Callable[[np.ndarray], np.ndarray], np.ndarray], float]  # (predict, indices) -> metric, higher better
    max_drop: float = 0.01  # in the metric's units: 0.01 is one point of top-1 or of mIoU

    def __len__(self) -> int:
        return int(self.count)


#: Quantisation-aware training (QAT): trains, in place, a torch module that carries the runtime's own fake
#: quantisers (calibrated already), with the task's loss on the run's training images. The runtime adapter
#: inserts the quantisers and converts the result; the caller (hoot optimize) owns the data, the loss and the
#: epochs, so no adapter knows a task. The module stays in eval mode: BatchNorm statistics and dropout frozen.
Int8Finetune = Callable[[Any], None]


@runtime_checkable
class OnDeviceRuntime(Protocol):
    """One on-device runtime (ExecuTorch/XNNPACK, LiteRT, OpenVINO)."""

    name: str  # the variant/runtime name hoot uses: executorch-xnnpack | litert | openvino
    suffix: str  # the shippable file's suffix: .pte | .tflite | .xml (+ .bin beside it)

    def unavailable_reason(self) -> str | None:
        """None where the runtime can run here, else one line naming the pip extra that installs it."""

    #: whether its INT8 route can keep the layers that cost accuracy in fp32 (uses an AccuracyGuard)
    guards_accuracy: bool

    def convert(self, module: Any, example_input: Any, out_path: Path,
                int8_calibration: Iterable[Any] | None = None, int8_guard: AccuracyGuard | None = None,
                int8_finetune: Int8Finetune | None = None) -> Path:
        """Write the shippable file for `module` at `example_input`'s shape (INT8 when calibration batches
        are given; within `int8_guard.max_drop` of fp32 on its images where the runtime `guards_accuracy`;
        quantisation-aware, the fake-quantised module trained by `int8_finetune`, when that is given)."""

    def load(self, path: Path, threads: int) -> "Runner":
        """Run the file through the runtime's own Python API with `threads` threads."""


@contextlib.contextmanager
def native_stderr_to_debug_log(what: str) -> Iterator[None]:
    """The runtimes' C++ code prints while it loads (ExecuTorch's cpuinfo and threadpool lines,
    LiteRT's "Created TensorFlow Lite XNNPACK delegate"): to file descriptor 2, or through pybind11
    to Python's sys.stderr. hoot's stderr carries hoot's own lines (issue 21), so both go to the
    debug log (--debug) meanwhile."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            with python_output_to_debug_log(what):
                yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode(errors="replace").strip()
            if text:
                log.debug("%s printed: %s", what, " | ".join(text.splitlines()))


@contextlib.contextmanager
def python_output_to_debug_log(what: str) -> Iterator[None]:
    """A converter's prints (torch.export prints a whole graph to stderr when it refuses a model)
    go to the debug log: the refusal itself is the row's one-line reason."""
    import io

    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            yield
    finally:
        text = (out.getvalue() + err.getvalue()).strip()
        if text:
            log.debug("%s printed %d line(s): %s", what, text.count("\n") + 1, text[:2000])


@dataclass
class Runner:
    """A loaded on-device model: `runner(x)` is the first output (logits), `runner.outputs(x)` all of them.

    `run_chunk` takes exactly the file's input shape; a larger batch is cut into chunks of it.
    """

    run_chunk: Callable[[np.ndarray], list[np.ndarray]]
    input_shape: tuple[int, ...]
    details: dict

    @property
    def batch(self) -> int:
        return int(self.input_shape[0])

    def outputs(self, x: np.ndarray) -> list[np.ndarray]:
        x = np.ascontiguousarray(x, dtype=np.float32)
        if tuple(x.shape[1:]) != tuple(self.input_shape[1:]) or len(x) % self.batch:
            raise UnsupportedModel(f"the file takes inputs of shape {tuple(self.input_shape)} (or a multiple of its "
                                   f"batch); got {tuple(x.shape)}: rebuild it at this size")
        if len(x) == self.batch:
            return self.run_chunk(x)
        parts = [self.run_chunk(np.ascontiguousarray(x[i:i + self.batch])) for i in range(0, len(x), self.batch)]
        return [np.concatenate([p[k] for p in parts]) for k in range(len(parts[0]))]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.outputs(x)[0]


def missing(modules: tuple[str, ...], runtime: str) -> str | None:
    """The one-line reason a runtime cannot run here (which import is missing, which extra installs it), or None."""
    absent = [m for m in modules if importlib.util.find_spec(m) is None]
    if not absent:
        return None
    return f"{runtime} needs the Python package(s) {', '.join(absent)}: {INSTALL_HINT}"


def require(runtime: OnDeviceRuntime) -> None:
    reason = runtime.unavailable_reason()
    if reason:
        raise RuntimeMissing(reason)


def prepared(runtime: OnDeviceRuntime, module: Any, example_input: Any, out_path: Path) -> tuple[Any, Any, Path]:
    """What every `convert` starts with: the package checked, the module on the CPU in eval mode, the example as a
    tensor, the output folder made."""
    require(runtime)
    out_path = Path(out_path).with_suffix(runtime.suffix) if runtime.suffix == ".xml" else Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    return module.cpu().eval(), as_tensor(example_input), out_path


def as_tensor(x: Any) -> Any:
    import torch

    return x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def flat_outputs(out: Any) -> list[np.ndarray]:
    """Every tensor a module returned (a tensor, tuple, list or dict such as torchvision's {'out', 'aux'}), in
    torch.export's flattening order, as float32 numpy: the order the exported files return them in."""
    import torch
    from torch.utils._pytree import tree_flatten

    leaves, _ = tree_flatten(out)
    return [t.detach().float().cpu().numpy() for t in leaves if isinstance(t, torch.Tensor)]


def eager_outputs(module: Any, x: Any) -> list[np.ndarray]:
    import torch

    with torch.inference_mode():
        return flat_outputs(module.eval()(as_tensor(x)))


def calibration_chunks(batches: Iterable[Any], batch: int) -> list[np.ndarray]:
    """Calibration batches re-cut to the file's batch size (a static-shape graph takes only that), float32."""
    rows = [np.asarray(b.detach().cpu().numpy() if hasattr(b, "detach") else b, dtype=np.float32) for b in batches]
    if not rows:
        raise ValueError("INT8 calibration needs at least one batch of images")
    data = np.concatenate(rows)
    if len(data) < batch:
        data = np.concatenate([data] * -(-batch // len(data)))
    usable = len(data) - len(data) % batch
    return [np.ascontiguousarray(data[i:i + batch]) for i in range(0, usable, batch)]


def _fold_batchnorm(graph: Any) -> None:
    """Fold each inference-mode BatchNorm into the convolution before it, in the exported graph, as
    `prepare_pt2e` does for post-training INT8: QAT keeps BatchNorm frozen, so the fake quantisers then train
    the folded weights the file ships (and litert-torch's QAT annotator, whose conv+BN patterns fail to export
    under torchao 0.18, never sees one). torchao names the step privately; without it the graph is left as is."""
    try:
        from torchao.quantization.pt2e.utils import _fuse_conv_bn_
    except ImportError:  # pragma: no cover - a torchao without it: prepare_qat_pt2e handles the pairs itself
        return
    _fuse_conv_bn_(graph)


def pt2e_quantize(module: Any, example: Any, quantizer: Any, chunks: list[np.ndarray], fold_quantize: bool = True,
                  finetune: Int8Finetune | None = None) -> Any:
    """PT2E static INT8: torch.export -> prepare_pt2e(quantizer) -> calibrate on `chunks` -> convert_pt2e.
    The quantizer is the runtime's own (XNNPACK's, LiteRT's), so the int8 pattern is one its kernels fuse.
    `fold_quantize=False` keeps weights as float + quantize ops (LiteRT's converter folds them itself).
    With `finetune` (QAT; the quantizer then made with is_qat=True): the graph is exported with a free batch
    dimension so it trains on batches, `prepare_qat_pt2e` inserts fake quantisers, calibration sets their
    ranges, `finetune` trains it, and the converted graph is re-exported at the example's shape by the caller."""
    import torch
    from torchao.quantization.pt2e import move_exported_model_to_eval
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e, prepare_qat_pt2e

    example = as_tensor(example)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if finetune is None:
            exported = torch.export.export(module.eval(), (example,)).module()
            prepared = prepare_pt2e(exported, quantizer)
        else:  # exported at batch 2 with the batch dimension free: a batch of 1 would be specialised; from a copy,
            # as the exported graph shares the module's parameters and training would change the caller's model
            batch = torch.export.Dim("batch", min=1, max=65536)
            exported = torch.export.export(copy.deepcopy(module).eval(), (torch.cat([example[:1]] * 2),),
                                           dynamic_shapes=({0: batch},)).module()
            _fold_batchnorm(exported)
            prepared = prepare_qat_pt2e(exported, quantizer)
        with torch.no_grad():
            for chunk in chunks:
                prepared(torch.from_numpy(chunk))
    if finetune is not None:
        finetune(prepared)
        move_exported_model_to_eval(prepared)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return convert_pt2e(prepared, fold_quantize=fold_quantize)
