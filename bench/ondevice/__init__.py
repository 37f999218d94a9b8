"""On-device runtimes (ExecuTorch/XNNPACK, LiteRT, OpenVINO) behind one interface (`base.OnDeviceRuntime`).

`RUNTIMES` maps hoot's name for each to its adapter; `hoot optimize` builds its
executorch-xnnpack/litert/openvino variants from them and `hoot bench --runtime` its settings.
The runtimes' packages come with the `ondevice` extra and are imported inside the adapters only.
"""

from __future__ import annotations

from hoot.bench.ondevice.base import OnDeviceRuntime, Runner, RuntimeMissing, UnsupportedModel
from hoot.bench.ondevice.executorch_xnnpack import ExecuTorchXnnpack
from hoot.bench.ondevice.litert import LiteRt
from hoot.bench.ondevice.openvino import OpenVino

RUNTIMES: dict[str, OnDeviceRuntime] = {r.name: r for r in (ExecuTorchXnnpack(), LiteRt(), OpenVino())}

__all__ = ["RUNTIMES", "OnDeviceRuntime", "Runner", "RuntimeMissing", "UnsupportedModel"]
