"""What a variant is judged on besides speed: the task's metric of its `Predict` callable over the held-out images.

`Predict` (float32 NCHW numpy in, logits out) is the shape every runtime can take, so eager
PyTorch, compiled PyTorch and ONNX Runtime pay the same (tiny) conversion costs, in timing
(bench.measure.measure_call) and in scoring alike.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

Predict = Callable[[np.ndarray], np.ndarray]


def held_out_score(predict: Predict, images: np.ndarray, targets: np.ndarray, evaluator, metric: str,
                   batch_size: int = 32, transform: Callable[[np.ndarray], np.ndarray] | None = None,
                   to_outputs: Callable[[np.ndarray, int], Any] | None = None) -> float:
    """The task's `metric` (e.g. val_top1, val_miou) of `predict` over `images` and their cached `targets`,
    fed to the task's `evaluator` in batches of exactly `batch_size` (the last one padded, so a compiled
    variant sees one shape; the padding is not scored), each passed through `transform` (uint8 ->
    normalised float32). `to_outputs(array, n)`: the evaluator's outputs from predict's array for n
    real images (the task's `outputs_from_export`; default: the first n rows as a tensor)."""
    import torch

    if to_outputs is None:
        def to_outputs(arr: np.ndarray, n: int) -> Any:
            return torch.from_numpy(np.ascontiguousarray(arr[:n]))

    for i in range(0, len(images), batch_size):
        chunk = np.asarray(images[i:i + batch_size])
        n = len(chunk)
        if n < batch_size:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], batch_size - n, axis=0)])
        x = transform(chunk) if transform else chunk
        outputs = to_outputs(np.asarray(predict(np.ascontiguousarray(x, dtype=np.float32))), n)
        evaluator.update(outputs, torch.from_numpy(np.asarray(targets[i:i + n])))
    return float(evaluator.compute().metrics[metric])


def top1(predict: Predict, images: np.ndarray, labels: np.ndarray, batch_size: int = 32,
         transform: Callable[[np.ndarray], np.ndarray] | None = None) -> float:
    """Top-1 of a classifier's `predict`: `held_out_score` with the classification task's evaluator
    (what optimize scores a classification run on; the benchmarks call it by this name)."""
    from hoot.trainer.tasks import get_task, make_loss

    evaluator = get_task("classification").evaluator(int(np.max(labels)) + 1, make_loss("classification"))
    return held_out_score(predict, images, labels, evaluator, "val_top1", batch_size, transform)
