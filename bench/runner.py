"""Run `hoot bench`: plan what is missing, measure in a warm child process, store rows.

Planning turns the run's `RunOptions` into typed `BenchJob`s (one model, one runtime, the
(mode, batch) pairs not yet stored). A warm child (bench.child) measures them one after
another; every row is written the moment it arrives, so Ctrl-C (exit 130) or a crash
keeps everything finished, and the next run measures only what is missing for the same
settings (`ok` rows count as done; `oom` and `error` rows are measured again). Two
processes on one database share the work: each claims a setting before measuring it
(store.claim) and skips what the other holds. Every row says how busy the machine was while
it was timed (bench.contention); a contended row is kept (marked), skipped (not stored) or
fails the run, as `--contended` says, and a re-run measures contended rows again.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from hoot.advisor import devices
from hoot.advisor.devices import usable_cores
from hoot.advisor.catalog import Variant
from hoot.advisor.errors import HootError
from hoot.bench.child import WarmChild
from hoot.bench.contention import wait_for_quiet
from hoot.bench.jobs import TRAINABLE_RUNTIMES, Annotation, BenchJob, RowMessage
from hoot.bench.phases import Phases, log_phases
from hoot.bench.sources import input_multiple
from hoot.bench.records import EXPORTED_RUNTIMES, ONDEVICE_RUNTIMES, RUNTIMES, Measurement, SettingsKey, classify_exit
from hoot.bench.store import ResultStore, utc_now

log = logging.getLogger(__name__)

#: what `--contended` may say about a row timed on a busy machine
CONTENDED_POLICIES: tuple[str, ...] = ("keep", "skip", "fail")


class ContendedRun(HootError):
    """`--contended fail`: a row was timed on a busy machine, so the run stops (rows before it stay stored)."""


@dataclass(frozen=True)
class RunOptions:
    """One `hoot bench` invocation's measurement settings (device already resolved)."""

    device: str = "cpu"
    dtype: str = "fp32"
    batch_sizes: tuple[int, ...] = (1,)
    input_size: int | None = None  # None: each model's native size
    threads: int = field(default_factory=usable_cores)
    channels_last: bool = False
    runtimes: tuple[str, ...] = ("eager",)  # --runtime, plus cuda_graph with --cuda-graphs
    train: bool = False
    quick: bool = False
    force: bool = False
    auto_batch: bool = True
    timeout_s: float | None = None  # per model; None waits as long as it takes
    calibration_batches: int = 8  # int8: seeded random calibration inputs
    fvcore: bool = False  # cross-check torch's FLOP count with fvcore (traces the real model: ~1 s a model)
    contended: str = "keep"  # a contended row is: kept (marked) | skip (not stored) | fail (the run stops)
    wait_quiet_s: float = 0.0  # before each model, wait up to this long for a quiet machine

    def __post_init__(self) -> None:
        unknown = [r for r in self.runtimes if r not in RUNTIMES]
        if unknown:
            raise HootError(f"--runtime '{unknown[0]}' is unknown; use one of {', '.join(RUNTIMES)}")
        for r in set(self.runtimes) & set(ONDEVICE_RUNTIMES):
            from hoot.bench.ondevice.bench_call import require_runtime  # numpy: not in the parent unless asked

            require_runtime(r)  # a missing package: one line naming the extra, before any model is built
        if any(r in EXPORTED_RUNTIMES for r in self.runtimes) and (self.dtype != "fp32" or self.channels_last):
            raise HootError(f"--runtime {'/'.join(EXPORTED_RUNTIMES)} measures the exported fp32 (or int8) model: "
                            "drop --dtype and --channels-last")
        if self.contended not in CONTENDED_POLICIES:
            raise HootError(f"--contended '{self.contended}' is unknown; use one of {', '.join(CONTENDED_POLICIES)}")
        if "cuda_graph" in self.runtimes and not self.device.startswith("cuda"):
            raise HootError("--cuda-graphs needs a CUDA device; pass --device cuda or drop --cuda-graphs")


def task_of(variant: Variant) -> str:
    """The task a variant is benchmarked as: what its builder natively is."""
    return variant.kind if variant.kind in ("detection", "segmentation") else "classification"


def _known_figures(store: ResultStore | None, variant: str, size: int) -> dict[str, Any]:
    """FLOP counts already stored for (variant, input size): counted once, not per setting."""
    if store is None:
        return {}
    rows = list(reversed(store.rows({"variant": variant, "input_size": size}, latest=False)))
    figures: dict[str, Any] = {}
    counted = next((r for r in rows if r.get("gmacs") is not None), None)
    if counted is not None:
        figures.update({k: counted[k] for k in ("gmacs", "gflops") if counted.get(k) is not None})
    checked = next((r for r in rows if r.get("gmacs_fvcore") is not None), None)  # --fvcore in any earlier run
    if checked is not None:
        figures.update({k: checked[k] for k in ("gmacs_fvcore", "fvcore_unsupported") if checked.get(k) is not None})
    return figures


def plan_jobs(
    variants: Iterable[Variant],
    settings: RunOptions,
    hardware_id: str,
    store: ResultStore | None = None,
    catalog_path: str | None = None,
    builder: str | None = None,
) -> tuple[list[BenchJob], list[SettingsKey], list[str]]:
    """(jobs to run, settings keys already stored, notes) for these variants and settings."""
    jobs: list[BenchJob] = []
    skipped: list[SettingsKey] = []
    notes: list[str] = []
    for v in variants:
        size = settings.input_size or v.native_input_px
        multiple = input_multiple(v, task_of(v))
        if size % multiple:  # smp's encoders: the first forward would refuse it
            notes.append(f"{v.name}: skipped: its input sides must be a multiple of {multiple} px; "
                         f"pass --input-size {max(multiple, size // multiple * multiple)}")
            continue
        if settings.input_size is None and task_of(v) != "classification":
            notes.append(f"{v.name}: measured at {v.input_basis}")
        figures = _known_figures(store, v.name, size)
        for runtime in settings.runtimes:
            pairs: list[tuple[str, int]] = [("inference", b) for b in settings.batch_sizes]
            if settings.train:
                if task_of(v) == "detection":
                    notes.append(f"{v.name}: training-step timing covers classification and segmentation models; skipped")
                elif runtime not in TRAINABLE_RUNTIMES:
                    notes.append(f"{v.name}: --runtime {runtime} times inference only; training rows skipped")
                else:
                    pairs += [("train", b) for b in settings.batch_sizes]
            job = BenchJob(hardware_id=hardware_id, variant=v.name, family=v.family, task=task_of(v),
                           device=settings.device, dtype=settings.dtype, input_size=size,
                           native_input=settings.input_size is None or settings.input_size == v.native_input_px,
                           threads=settings.threads, channels_last=settings.channels_last, runtime=runtime,
                           quick=settings.quick, pairs=(), weights_file_mb=v.weights_file_mb,
                           auto_batch=settings.auto_batch, known_figures=figures,
                           calibration_batches=settings.calibration_batches, catalog_path=catalog_path,
                           builder=builder, fvcore=settings.fvcore)
            todo = []
            for mode, batch in pairs:
                key = job.key(mode, batch)
                if store is not None and not settings.force and store.has(key):
                    skipped.append(key)
                else:
                    todo.append((mode, batch))
            if todo:
                jobs.append(job.with_pairs(todo))
    return jobs, skipped, notes


def probe_torch(child: WarmChild | None = None) -> dict[str, Any]:
    """Ask a child what torch can do here (CUDA devices, bf16), keeping torch out of this process."""
    own = child is None
    child = child or WarmChild()
    try:
        found = child.probe()
    finally:
        if own:
            child.close()
    if not found:
        raise HootError("cannot start a measuring process; check that torch imports (`python -c 'import torch'`)")
    return found


def resolve_device(requested: str, probe: dict[str, Any]) -> str:
    """The shared resolver (hoot.advisor.devices) against what the probing child's torch sees."""
    return devices.resolve_device(requested, len(probe.get("cuda_devices") or []),
                                  torch_version=probe.get("torch_version"))


def check_dtype(dtype: str, device: str, probe: dict[str, Any]) -> None:
    """fp16 needs a GPU; bf16 needs hardware support (CPU: oneDNN's bf16 path)."""
    if dtype == "fp16" and device == "cpu":
        raise HootError("--dtype fp16 runs on CUDA only; on the CPU use --dtype bf16 (where supported) or fp32")
    if dtype == "bf16" and device == "cpu" and not probe.get("cpu_bf16"):
        raise HootError("--dtype bf16: this CPU has no bfloat16 support in torch (oneDNN); use --dtype fp32")
    if dtype == "bf16" and device.startswith("cuda") and not probe.get("cuda_bf16"):
        raise HootError("--dtype bf16: this GPU does not support bfloat16; use --dtype fp16")


class _Claims:
    """Settings this process claimed in the store (store.claim/release), so two runs share the work."""

    def __init__(self, store: ResultStore, owner: str, ttl_s: float):
        self.store, self.owner, self.ttl_s = store, owner, ttl_s

    def take(self, job: BenchJob) -> BenchJob | None:
        """The job narrowed to the settings this process may measure (None: another process has them all)."""
        mine = [(m, b) for m, b in job.pairs if self.store.claim(job.key(m, b), self.owner, self.ttl_s)]
        return job.with_pairs(mine) if mine else None

    def release(self, job: BenchJob) -> None:
        for m, b in job.pairs:
            self.store.release(job.key(m, b), self.owner)


def run_jobs(
    jobs: list[BenchJob],
    store: ResultStore,
    hardware_id: str,
    progress: bool = True,
    timeout_s: float | None = None,
    on_row: Callable[[dict[str, Any]], None] | None = None,
    child: WarmChild | None = None,
    force: bool = False,
    contended: str = "keep",
    wait_quiet_s: float = 0.0,
    on_note: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Measure each job in the warm child; store each row as it arrives. Returns the rows of this run.

    A child that dies leaves error (or oom) rows for the settings it did not finish.
    KeyboardInterrupt propagates after the child is stopped; stored rows stay stored.
    `contended` (CONTENDED_POLICIES) says what happens to a row timed on a busy machine;
    `wait_quiet_s` waits for a quiet machine before each model; `on_note` hears both.
    """
    from tqdm import tqdm

    claims = _Claims(store, owner=f"{os.uname().nodename}:{os.getpid()}", ttl_s=max(900.0, 2 * (timeout_s or 0)))
    rows: list[dict[str, Any]] = []
    own_child = child is None
    child = child or WarmChild()
    bar = tqdm(total=len(jobs), unit="model", file=sys.stderr, disable=not progress, dynamic_ncols=True,
               bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}] {postfix}")
    try:
        for planned in jobs:
            bar.set_description(f"bench {planned.variant}")
            phases = Phases()
            with phases.time("claims"):
                job = claims.take(planned)
                if job is not None and not force:  # another process may have stored some meanwhile
                    job = job.with_pairs([(m, b) for m, b in job.pairs
                                          if not store.has(job.key(m, b))])
            if job is None or not job.pairs:
                if job is None:  # said, so a re-run that measures fewer models than it planned is not a mystery
                    log.info("%s skipped: another hoot bench process is measuring it now (its rows land in the same "
                             "database; re-run when it is done if they do not)", planned.variant)
                bar.update(1)
                continue
            if wait_quiet_s > 0:
                with phases.time("wait_quiet"):
                    waited = wait_for_quiet(job.threads, wait_quiet_s, _gpu_index(job.device))
                if (waited.waited_s > 0 or not waited.quiet) and on_note is not None:
                    on_note(f"{job.variant}: {waited.describe()}")
            try:
                rows.extend(_run_one(job, child, store, timeout_s, on_row, phases, contended, on_note))
            finally:
                with phases.time("claims"):
                    claims.release(job)
                log_phases(log, "job", {"variant": job.variant, "runtime": job.runtime, "parent": phases.as_dict(),
                                        "child": child.last_phases})
            bar.set_postfix_str(_summary(rows[-1]) if rows else "")
            bar.update(1)
    finally:
        bar.close()
        if own_child:
            child.close()
    return rows


def _gpu_index(device: str) -> int | None:
    """'cuda:1' -> 1, 'cuda' -> 0, 'cpu' -> None."""
    if not device.startswith("cuda"):
        return None
    index = device.partition(":")[2]
    return int(index) if index.isdigit() else 0


def busy_text(row: dict[str, Any]) -> str:
    """'other processes used 1.2 cores, load 3.1' from a stored row's contention columns."""
    parts = []
    if row.get("busy_other_cores") is not None:
        parts.append(f"other processes used {row['busy_other_cores']:.1f} core(s) while it was timed "
                     f"({row.get('threads')} thread(s), {usable_cores()} core(s))")
    if row.get("load_1min") is not None:
        parts.append(f"load {row['load_1min']:.1f}")
    if row.get("gpu_other_processes"):
        parts.append(f"{row['gpu_other_processes']} other process(es) on the GPU")
    return ", ".join(parts) or "the machine was busy"


def _run_one(job: BenchJob, child: WarmChild, store: ResultStore, timeout_s: float | None,
             on_row: Callable[[dict[str, Any]], None] | None, phases: Phases | None = None,
             contended: str = "keep", on_note: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """One job through the child: its rows stored as they come, FLOP counts added after."""
    phases = phases if phases is not None else Phases()
    done: set[tuple[str, int]] = set()
    ids: list[int] = []
    rows: list[dict[str, Any]] = []
    saw_oom = [False]

    def keep(message: Any) -> None:
        if isinstance(message, Annotation):  # FLOPs, counted after the timing
            fields = {k: v for k, v in message.fields.items() if v is not None}
            with phases.time("store"):
                store.annotate(ids, fields)
            for r in rows:
                r.update(fields)
            return
        if not isinstance(message, RowMessage):
            return
        m: Measurement = message.measurement
        saw_oom[0] = saw_oom[0] or m.status == "oom"
        row = m.to_row()
        if m.contended and contended != "keep":
            done.add((m.key.mode, m.key.batch_size))
            what = f"{m.variant} {m.key.mode} batch {m.key.batch_size}: timed on a busy machine ({busy_text(row)})"
            if contended == "fail":
                raise ContendedRun(f"{what}; stopped (--contended fail): rows stored before it stay; measure on a "
                                   "quiet machine, wait for one with --wait-quiet SECONDS, or pass --contended keep")
            if on_note is not None:
                on_note(f"{what}: not stored (--contended skip); a re-run measures it again")
            return
        with phases.time("store"):
            row_id = store.add(m)
        if row_id is not None:
            ids.append(row_id)
        rows.append(row)
        done.add((m.key.mode, m.key.batch_size))
        if on_row is not None:
            on_row(row)

    started_before, start_s_before, t0 = child.started, child.start_s, time.perf_counter()
    exitcode, timed_out, _finished = child.run(job, keep, timeout_s=timeout_s)
    phases.add("child_round_trip", time.perf_counter() - t0)
    phases.add("child_start", child.start_s - start_s_before)
    phases.count("children_started", child.started - started_before)
    missing = [p for p in job.pairs if p not in done]
    if missing:
        status, message = classify_exit(exitcode, saw_oom[0])
        if timed_out:
            status, message = "error", f"timed out after {timeout_s:g} s per model (raise --timeout)"
        for mode, batch in missing:
            failed = job.failed(mode, batch, status, message, utc_now())
            row = failed.to_row()
            store.add(failed)
            rows.append(row)
            if on_row is not None:
                on_row(row)
    return rows


def _summary(row: dict[str, Any]) -> str:
    if row.get("status") == "ok" and row.get("latency_ms") is not None:
        return f"{row['variant']} b{row['batch_size']} {row['mode']}: {row['latency_ms']:.2f} ms"
    return f"{row['variant']} b{row['batch_size']} {row['mode']}: {row.get('status')}"


def with_runtime(settings: RunOptions, runtime: str) -> RunOptions:
    """The same settings under another runtime (benchmarks compare runtimes side by side)."""
    return dataclasses.replace(settings, runtimes=(runtime,))
