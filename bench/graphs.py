"""Capture one inference call in a CUDA graph and replay it (`hoot bench --cuda-graphs`).

Batch-1 eager latency on a big GPU is bound by the CPU launching kernels; a captured
graph launches the whole forward at once, so eager against graphed says how launch-bound
a model is. Recipe from torch.cuda.graphs' documentation: warm up on a side stream (cuDNN
autotuning, lazy initialisation and allocator pools happen outside the capture), capture
on a static input, replay. Autocast inside a capture needs `cache_enabled=False`.
A model that cannot be captured (data-dependent shapes, host syncs, CPU ops) raises
`GraphCaptureError` with the reason; the worker stores it as that setting's error row.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable

import torch

from hoot.bench.steps import DTYPES


class GraphCaptureError(RuntimeError):
    """The inference call could not be captured as a CUDA graph."""


def capture_inference(model: Any, example: Any, device: Any, dtype: str, warmup_iters: int = 3,
                      cuda: Any = None) -> Callable[[], Any]:
    """A no-argument replay of `model(example)` captured in a CUDA graph (output in a static tensor).

    `cuda` defaults to torch.cuda (tests pass a fake).
    """
    cuda = cuda if cuda is not None else torch.cuda
    if torch.device(device).type != "cuda":
        raise GraphCaptureError(f"CUDA graphs need a CUDA device, not {device}")

    def context() -> contextlib.ExitStack:
        stack = contextlib.ExitStack()
        stack.enter_context(torch.no_grad())
        if dtype != "fp32":
            stack.enter_context(torch.autocast(device_type="cuda", dtype=DTYPES[dtype], cache_enabled=False))
        return stack

    try:
        side = cuda.Stream(device)
        side.wait_stream(cuda.current_stream(device))
        with cuda.stream(side), context():
            for _ in range(max(1, warmup_iters)):
                model(example)
        cuda.current_stream(device).wait_stream(side)
        cuda.synchronize(device)
        graph = cuda.CUDAGraph()
        with context(), cuda.graph(graph):
            static_out = model(example)
        cuda.synchronize(device)
    except Exception as exc:  # noqa: BLE001 - the reason becomes the row's error
        text = str(exc).strip().splitlines()
        raise GraphCaptureError(f"CUDA graph capture failed: {type(exc).__name__}: "
                                f"{text[0][:300] if text else ''}") from exc

    def replay() -> Any:
        graph.replay()
        return static_out

    return replay
