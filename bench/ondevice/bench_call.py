"""`hoot bench --runtime executorch|litert|openvino`: a catalog model's file built and timed in that runtime.

Each runtime is its own stored setting (the row's `runtime` column), fp32, on the CPU, at the
job's batch and size; the file is converted once per setting and timed through the runtime's
own Python API by the bench's one measuring method.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from hoot.bench.ondevice import RUNTIMES, OnDeviceRuntime
from hoot.bench.ondevice.base import require

#: hoot bench's runtime name -> the adapter (optimize's variant names carry the backend)
BENCH_NAMES = {"executorch": "executorch-xnnpack", "litert": "litert", "openvino": "openvino"}


def adapter(bench_runtime: str) -> OnDeviceRuntime:
    return RUNTIMES[BENCH_NAMES[bench_runtime]]


def require_runtime(bench_runtime: str) -> None:
    """Raise RuntimeMissing (a `hoot: error:` line naming the extra) where the runtime's package is absent."""
    require(adapter(bench_runtime))


def ondevice_call(model: Any, example: Any, bench_runtime: str, threads: int,
                  folder: str | Path) -> tuple[Callable[[], Any], dict[str, Any]]:
    """(a no-argument call running the converted file at `example`'s shape, facts for the row)."""
    runtime = adapter(bench_runtime)
    x = example.detach().to("cpu").contiguous()
    t0 = time.perf_counter()
    path = runtime.convert(model.to("cpu").eval(), x, Path(folder) / f"model{runtime.suffix}")
    prepare_s = time.perf_counter() - t0
    runner = runtime.load(path, threads)
    feed = np.ascontiguousarray(x.numpy())
    size = path.stat().st_size + (path.with_suffix(".bin").stat().st_size if path.suffix == ".xml" else 0)
    return (lambda: runner.run_chunk(feed)), {"onnx_file_mb": round(size / 2**20, 3), "prepare_s": round(prepare_s, 3)}
