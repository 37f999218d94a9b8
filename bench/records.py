"""Typed records of the measurement layer: what a measurement is, and what makes two comparable.

As torch.utils.benchmark's `Measurement` carries the `TaskSpec` that makes it comparable, a
hoot `Measurement` carries its `SettingsKey`: hardware, variant, mode, device, precision,
batch, input size, threads, memory layout, runtime and budget. Rankings, reports and
comparisons only ever set measurements of one `Setting` side by side.

No torch here: the advisor reads these cheaply.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
import signal
from typing import Any, Literal

Status = Literal["ok", "oom", "error"]
STATUSES: tuple[str, ...] = ("ok", "oom", "error")
MODES: tuple[str, ...] = ("inference", "train")
DTYPES: tuple[str, ...] = ("fp32", "fp16", "bf16")
#: how the model is run: plain eager PyTorch, a captured CUDA graph replayed, torch.compile,
#: ONNX Runtime fp32, ONNX Runtime INT8 (static post-training quantisation), and the on-device runtimes
#: in fp32 (hoot.bench.ondevice: ExecuTorch with XNNPACK, LiteRT, OpenVINO)
ONDEVICE_RUNTIMES: tuple[str, ...] = ("executorch", "litert", "openvino")
#: runtimes that run an exported file on the CPU in fp32/int8 (no --dtype, no channels-last, no training)
EXPORTED_RUNTIMES: tuple[str, ...] = ("onnxruntime", "int8") + ONDEVICE_RUNTIMES
RUNTIMES: tuple[str, ...] = ("eager", "cuda_graph", "compile", "onnxruntime", "int8") + ONDEVICE_RUNTIMES
#: on a GPU, the throughput batch `hoot bench` measures beside batch 1 unless told otherwise
THROUGHPUT_BATCH = 64
#: why the timing loop stopped: the spread settled, or the time/iteration budget ran out
STOPPED_BY: tuple[str, ...] = ("converged", "time_cap", "max_iters")


@dataclass(frozen=True)
class Setting:
    """The conditions of a measurement apart from hardware and model: one ranking, one Setting."""

    device: str = "cpu"
    dtype: str = "fp32"
    batch_size: int = 1
    input_size: int | None = None  # None: each variant at its native size
    threads: int | None = None
    channels_last: bool = False
    runtime: str = "eager"
    quick: bool = False
    mode: str = "inference"

    def label(self) -> str:
        """'cpu fp32 batch 1 native px 2 threads eager' for output that names the setting it ranks on."""
        size = "native px" if self.input_size is None else f"{self.input_size} px"
        threads = "" if self.threads is None else f" {self.threads} threads"
        layout = " channels-last" if self.channels_last else ""
        quick = " (--quick)" if self.quick else ""
        mode = "" if self.mode == "inference" else f" {self.mode}"
        return f"{self.device} {self.dtype} batch {self.batch_size} {size}{threads} {self.runtime}{layout}{mode}{quick}"


@dataclass(frozen=True)
class SettingsKey:
    """Everything that must be equal for two measurements to be compared; resume skips a stored key."""

    hardware_id: str
    variant: str
    mode: str
    device: str
    dtype: str
    batch_size: int
    input_size: int
    threads: int
    channels_last: bool
    runtime: str
    quick: bool

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "SettingsKey":
        return cls(**{f.name: row[f.name] for f in dataclasses.fields(cls)})

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def setting(self) -> Setting:
        return Setting(device=self.device, dtype=self.dtype, batch_size=self.batch_size, input_size=self.input_size,
                       threads=self.threads, channels_last=self.channels_last, runtime=self.runtime,
                       quick=self.quick, mode=self.mode)


#: the key's columns, in order (the store's unique index and resume check use them)
KEY_COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(SettingsKey))


@dataclass(frozen=True)
class Measurement:
    """One stored result: its key, its status and its figures (None where not measured)."""

    key: SettingsKey
    status: str = "ok"
    error: str | None = None
    latency_ms: float | None = None  # median time of one batch (median of block medians)
    latency_p10_ms: float | None = None
    latency_p90_ms: float | None = None
    latency_cv: float | None = None
    latency_spread_ms: float | None = None  # spread of the timed blocks' medians
    converged: bool | None = None  # did the spread settle before the budget ran out
    stopped_by: str | None = None  # one of STOPPED_BY
    iterations: int | None = None
    throughput_ips: float | None = None
    gmacs: float | None = None
    params: int | None = None
    peak_memory_mb: float | None = None
    memory_kind: str | None = None  # cuda_allocator | cpu_rss
    contended: bool | None = None  # timed while other processes held the cores or the GPU (None: not known)
    measured_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # every other stored column

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "Measurement":
        names = {f.name for f in dataclasses.fields(cls)} - {"key", "extra"}
        known = {n: row.get(n) for n in names}
        extra = {k: v for k, v in row.items() if k not in names and k not in KEY_COLUMNS}
        return cls(key=SettingsKey.from_row(row), extra=extra, **known)

    def to_row(self) -> dict[str, Any]:
        row = {**self.extra, **self.key.as_dict()}
        row.update({f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("key", "extra")})
        return row

    @property
    def variant(self) -> str:
        return self.key.variant

    @property
    def setting(self) -> Setting:
        return self.key.setting


def classify_exit(exitcode: int | None, reported_oom: bool = False) -> tuple[str, str]:
    """(status, message) for a bench child that ended before sending all its rows.

    Only a child that reported an out-of-memory error itself is `oom`; a SIGKILL may be the
    kernel's OOM killer, a user or a scheduler, so it is an `error` that says so. Both may
    be measured again (resume skips only `ok` rows).
    """
    if reported_oom:
        return "oom", "out of memory (reported by the child process)"
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        if -exitcode == signal.SIGKILL:
            return "error", f"killed by {name} (signal 9): possibly out of memory"
        return "error", f"child process crashed ({name})"
    return "error", f"child process exited with code {exitcode} before finishing"
