"""What a variant is judged on besides speed: top-1 of its `Predict` callable over the held-out images.

`Predict` (float32 NCHW numpy in, logits out) is the shape every runtime can take, so eager
PyTorch, compiled PyTorch and ONNX Runtime pay the same (tiny) conversion costs, in timing
(bench.measure.measure_call) and in scoring alike.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

Predict = Callable[[np.ndarray], np.ndarray]


def top1(predict: Predict, images: np.ndarray, labels: np.ndarray, batch_size: int = 32,
         transform: Callable[[np.ndarray], np.ndarray] | None = None) -> float:
    """Top-1 accuracy of `predict` over `images` in batches of exactly `batch_size` (the last one padded,
    so a compiled variant sees one shape), each passed through `transform` (e.g. uint8 -> normalised float32)."""
    correct = 0
    for i in range(0, len(images), batch_size):
        chunk = np.asarray(images[i:i + batch_size])
        n = len(chunk)
        if n < batch_size:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], batch_size - n, axis=0)])
        x = transform(chunk) if transform else chunk
        logits = np.asarray(predict(np.ascontiguousarray(x, dtype=np.float32)))[:n]
        correct += int((logits.argmax(1) == labels[i:i + n]).sum())
    return correct / max(1, len(images))
