"""Typed records between the runner and its child: a bench job and the pipe's messages.

A `BenchJob` is one model under one runtime with the (mode, batch) pairs still to measure;
its `key(mode, batch)` is the one settings key (records.SettingsKey) a row is stored and
resumed under. Messages are small frozen dataclasses, picklable through the pipe. No
torch here: the runner imports this without paying for torch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from hoot.bench.records import Measurement, SettingsKey

#: runtimes that can time a training step (the others export or capture an inference call)
TRAINABLE_RUNTIMES = ("eager", "compile")


@dataclass(frozen=True)
class BenchJob:
    """One model, one runtime, the settings still to measure."""

    hardware_id: str
    variant: str
    family: str | None
    task: str  # classification | detection | segmentation (what its builder is)
    device: str
    dtype: str
    input_size: int
    native_input: bool
    threads: int
    channels_last: bool
    runtime: str
    quick: bool
    pairs: tuple[tuple[str, int], ...]  # (mode, batch size)
    weights_file_mb: float | None = None
    auto_batch: bool = True
    max_auto_batch: int = 4096
    auto_batch_budget_s: float = 10.0
    fvcore: bool = False  # cross-check the FLOP count with fvcore (hoot bench --fvcore; a real traced forward)
    known_figures: dict[str, Any] = field(default_factory=dict)  # FLOP counts already stored for (variant, size)
    calibration_batches: int = 8  # int8: seeded random inputs to calibrate on (speed only)
    catalog_path: str | None = None
    builder: str | None = None

    @property
    def kind(self) -> str:
        return self.task

    def key(self, mode: str, batch: int) -> SettingsKey:
        return SettingsKey(hardware_id=self.hardware_id, variant=self.variant, mode=mode, device=self.device,
                           dtype=self.dtype, batch_size=int(batch), input_size=self.input_size,
                           threads=self.threads, channels_last=self.channels_last, runtime=self.runtime,
                           quick=self.quick)

    def common_fields(self) -> dict[str, Any]:
        """Columns every row of this job carries besides its key (Measurement.extra)."""
        return {"family": self.family, "task": self.task, "native_input": self.native_input,
                "weights_file_mb": self.weights_file_mb}

    def failed(self, mode: str, batch: int, status: str, message: str, measured_at: str) -> Measurement:
        """A row for a setting that produced no figures."""
        return Measurement(key=self.key(mode, batch), status=status, error=message, measured_at=measured_at,
                           extra=self.common_fields())

    def with_pairs(self, pairs: list[tuple[str, int]]) -> "BenchJob":
        return dataclasses.replace(self, pairs=tuple(pairs))


@dataclass(frozen=True)
class ProbeRequest:
    """Ask the child what torch can do here."""


@dataclass(frozen=True)
class ProbeReply:
    info: dict[str, Any]


@dataclass(frozen=True)
class RowMessage:
    """One finished setting."""

    measurement: Measurement


@dataclass(frozen=True)
class Annotation:
    """Figures counted after the timing (FLOPs), for every row of the job."""

    fields: dict[str, Any]


@dataclass(frozen=True)
class JobDone:
    """The child finished the job; `restart`: it exits now and the next job needs a fresh child."""

    restart: bool = False
    phases: dict[str, Any] = field(default_factory=dict)  # bench.phases: where the job's time went


@dataclass(frozen=True)
class Stop:
    """Sent to a warm child: no more jobs, exit."""


Message = ProbeReply | RowMessage | Annotation | JobDone
