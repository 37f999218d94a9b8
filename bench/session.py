"""One `hoot bench` measuring session, below the CLI: probe, resolve, plan, measure, read back.

`run_bench(request)` does what the command used to do inside its click function: start the
warm child (its fork server imports torch, not this process), ask it what torch can do here,
resolve the device and the GPU defaults, check the precision, describe the machine, plan
what is missing from the store, measure it and return the stored rows of this run's settings
as a typed `BenchOutcome`. Lines for the user go through `on_note` (the CLI prints them on
stderr); nothing here prints or exits. No torch import.
"""

from __future__ import annotations

import atexit
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from hoot.advisor.catalog import Variant, default_catalog_path
from hoot.advisor.devices import usable_cores
from hoot.bench.child import WarmChild, stop_fork_server
from hoot.bench.hardware import this_machine
from hoot.bench.phases import Phases
from hoot.bench.records import EXPORTED_RUNTIMES, THROUGHPUT_BATCH
from hoot.bench.runner import RunOptions, check_dtype, plan_jobs, probe_torch, resolve_device, run_jobs
from hoot.bench.store import ResultStore

#: (device, probe, batch sizes, dtype, runtimes) -> (batch sizes, dtype): the caller's GPU defaults
Defaults = Callable[[str, dict[str, Any], tuple[int, ...], str, tuple[str, ...]], tuple[tuple[int, ...], str]]


@dataclass(frozen=True)
class BenchRequest:
    """What the user asked `hoot bench` to measure (device not yet resolved, threads maybe open)."""

    variants: tuple[Variant, ...]
    device: str = "auto"
    batch_sizes: tuple[int, ...] = (1,)
    dtype: str = "fp32"
    channels_last: bool = False
    runtimes: tuple[str, ...] = ("eager",)
    calibration_batches: int = 8
    threads: int | None = None  # None: every core this process may use
    input_size: int | None = None
    train: bool = False
    quick: bool = False
    fvcore: bool = False
    db: str | None = None
    force: bool = False
    timeout_s: float | None = None
    contended: str = "keep"
    wait_quiet_s: float = 0.0


@dataclass
class BenchOutcome:
    """What a session measured: the resolved options, the machine, the stored rows of this run's settings."""

    options: RunOptions
    hardware_id: str
    store_path: Path
    rows: list[dict[str, Any]]
    skipped: int = 0  # settings already stored (not measured again)
    notes: list[str] = field(default_factory=list)
    phases: Phases = field(default_factory=Phases)  # where the session's time went (bench.phases)


def gpu_defaults(device: str, probe: dict[str, Any], batches: tuple[int, ...], dtype: str, runtimes: tuple[str, ...],
                 batch_chosen: bool, dtype_chosen: bool) -> tuple[tuple[int, ...], str, str | None]:
    """On CUDA, unless the user chose: batch 1 and a throughput batch, in half precision; (batches, dtype, note)."""
    if not device.startswith("cuda") or any(r in EXPORTED_RUNTIMES for r in runtimes):
        return batches, dtype, None
    said = []
    if not batch_chosen:
        batches = (1, THROUGHPUT_BATCH)
        said.append(f"--batch-size 1,{THROUGHPUT_BATCH}")
    if not dtype_chosen:
        dtype = "bf16" if probe.get("cuda_bf16") else "fp16"
        said.append(f"--dtype {dtype}")
    if not said:
        return batches, dtype, None
    return batches, dtype, (f"GPU defaults: {' '.join(said)} (batch 1 for latency, batch {THROUGHPUT_BATCH} for "
                            "throughput, half precision as a GPU server runs); pass --batch-size/--dtype to choose")


def run_bench(request: BenchRequest, defaults: Defaults, on_note: Callable[[str], None] = lambda _: None,
              progress: bool = True) -> BenchOutcome:
    """Measure `request` into its store; `defaults` settles the GPU defaults once the device is known."""
    atexit.unregister(stop_fork_server)  # once per process, however often a session runs in it
    atexit.register(stop_fork_server)  # else it finalises torch after we exit, holding our stdout
    phases = Phases()
    with WarmChild() as child:
        with phases.time("probe"):  # starts the fork server, which imports torch
            probe = probe_torch(child)
        resolved = resolve_device(request.device, probe)
        batches, dtype = defaults(resolved, probe, request.batch_sizes, request.dtype, request.runtimes)
        check_dtype(dtype, resolved, probe)
        options = RunOptions(device=resolved, dtype=dtype, batch_sizes=batches, input_size=request.input_size,
                             threads=request.threads or usable_cores(), channels_last=request.channels_last,
                             runtimes=request.runtimes, train=request.train, quick=request.quick,
                             force=request.force, timeout_s=request.timeout_s,
                             calibration_batches=request.calibration_batches, fvcore=request.fvcore,
                             contended=request.contended, wait_quiet_s=request.wait_quiet_s)
        with phases.time("hardware"):
            hardware = this_machine()
        hid = hardware["hardware_id"]
        with ResultStore(request.db) as store:
            with phases.time("plan"):
                store.save_hardware(hardware)
                jobs, skipped, notes = plan_jobs(request.variants, options, hid, store,
                                                 catalog_path=default_catalog_path())
            for note in notes:
                on_note(note)
            if skipped:
                on_note(f"{len(skipped)} measurement(s) already stored for these settings on {hid}: skipped "
                        "(--force to measure again)")
            on_note(f"measuring {len(jobs)} model(s) on {resolved} ({options.threads} threads, {dtype}, "
                    f"{', '.join(options.runtimes)}) into {store.path}")
            with phases.time("run"):
                run_jobs(jobs, store, hid, progress=progress, timeout_s=options.timeout_s, child=child,
                         force=options.force, contended=options.contended, wait_quiet_s=options.wait_quiet_s,
                         on_note=on_note)
            with phases.time("rows"):
                rows = rows_of_run(store, hid, options, {v.name for v in request.variants})
            path = store.path
        with phases.time("close_child"):
            child.close()
    return BenchOutcome(options, hid, path, rows, len(skipped), notes, phases)


def rows_of_run(store: ResultStore, hardware_id: str, options: RunOptions, wanted: set[str]) -> list[dict[str, Any]]:
    """The stored rows of this run's settings (latest per key)."""
    filters: dict[str, Any] = {"hardware_id": hardware_id, "device": options.device, "dtype": options.dtype,
                               "threads": options.threads, "channels_last": options.channels_last,
                               "quick": options.quick, "batch_size": list(options.batch_sizes),
                               "mode": ["inference", "train"] if options.train else "inference",
                               "runtime": list(options.runtimes)}
    size = options.input_size
    return [r for r in store.rows(filters)
            if r["variant"] in wanted and (size is None and r.get("native_input") or r["input_size"] == size)]
