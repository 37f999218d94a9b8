"""Run `hoot bench`: plan what is missing, measure each model in its own child process, store rows.

Children come from a fork server that has already imported torch and torchvision
(`bench.worker` is preloaded), so a child starts in milliseconds instead of paying the
torch import per model, yet still has its own memory: a segfault, an out-of-memory or
an abort loses one model's rows, not the run. Every row is written to the store the
moment the child sends it, so Ctrl-C (exit 130) or a crash keeps everything finished,
and the next run measures only what is missing for the same settings.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from hoot.advisor.catalog import Variant
from hoot.advisor import devices
from hoot.advisor.errors import HootError
from hoot.bench.records import classify_exit
from hoot.bench.store import ResultStore, utc_now



@dataclass
class Settings:
    """One `hoot bench` invocation's measurement settings (device already resolved)."""

    device: str = "cpu"
    dtype: str = "fp32"
    batch_sizes: tuple[int, ...] = (1,)
    input_size: int | None = None  # None: each model's native size
    threads: int = field(default_factory=lambda: default_threads())
    channels_last: bool = False
    compile: bool = False
    train: bool = False
    quick: bool = False
    force: bool = False
    auto_batch: bool = True
    timeout_s: float | None = None  # per model; None waits as long as it takes


def default_threads() -> int:
    """All cores this process may use (affinity-aware)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # pragma: no cover - macOS
        return os.cpu_count() or 1


def task_of(variant: Variant) -> str:
    """The task a variant is benchmarked as: what its builder natively is."""
    return variant.kind if variant.kind in ("detection", "segmentation") else "classification"


def plan_jobs(
    variants: Iterable[Variant],
    settings: Settings,
    hardware_id: str,
    store: ResultStore | None = None,
    catalog_path: str | None = None,
    builder: str | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """(jobs to run, settings keys already stored, notes) for these variants and settings."""
    jobs, skipped, notes = [], [], []
    for v in variants:
        size = settings.input_size or v.native_input_px
        pairs: list[tuple[str, int]] = [("inference", b) for b in settings.batch_sizes]
        if settings.train:
            if task_of(v) == "detection":
                notes.append(f"{v.name}: training-step timing covers classification and segmentation models; skipped")
            else:
                pairs += [("train", b) for b in settings.batch_sizes]
        todo = []
        for mode, batch in pairs:
            key = key_for(hardware_id, v.name, mode, batch, size, settings)
            if store is not None and not settings.force and store.has(key):
                skipped.append(key)
            else:
                todo.append((mode, batch))
        if not todo:
            continue
        jobs.append({
            "variant": v.name, "family": v.family, "task": task_of(v), "kind": task_of(v),
            "device": settings.device, "dtype": settings.dtype, "input_size": size,
            "native_input": settings.input_size is None or settings.input_size == v.native_input_px,
            "threads": settings.threads, "channels_last": settings.channels_last, "compile": settings.compile,
            "quick": settings.quick, "weights_file_mb": v.weights_file_mb, "auto_batch": settings.auto_batch,
            "pairs": todo, "catalog_path": catalog_path, "builder": builder,
        })
    return jobs, skipped, notes


def key_for(hardware_id: str, variant: str, mode: str, batch: int, size: int, s: Settings) -> dict[str, Any]:
    return {"hardware_id": hardware_id, "variant": variant, "mode": mode, "device": s.device, "dtype": s.dtype,
            "batch_size": batch, "input_size": size, "threads": s.threads, "channels_last": s.channels_last,
            "compile": s.compile, "quick": s.quick}


_CONTEXT: Any = None


def mp_context() -> Any:
    """A fork server with torch preloaded (spawn where fork servers don't exist)."""
    global _CONTEXT
    if _CONTEXT is None:
        if "forkserver" in multiprocessing.get_all_start_methods():
            _CONTEXT = multiprocessing.get_context("forkserver")
            _CONTEXT.set_forkserver_preload(["hoot.bench.worker"])
        else:  # pragma: no cover - Windows
            _CONTEXT = multiprocessing.get_context("spawn")
    return _CONTEXT


def _death(exitcode: int | None) -> tuple[str, str]:
    """(status, message) for a child that ended without finishing its rows."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        if -exitcode == signal.SIGKILL:
            return "oom", f"child process killed by {name} (most likely the system's out-of-memory killer)"
        return "error", f"child process crashed ({name})"
    return "error", f"child process exited with code {exitcode} before finishing"


def run_child(job: dict[str, Any], on_message: Callable[[dict[str, Any]], None],
              timeout_s: float | None = None) -> tuple[int | None, bool]:
    """Run one job in a child process, relaying each message; (exit code, timed out)."""
    from hoot.bench.worker import child_main  # noqa: F401 - importable here means importable in the child

    ctx = mp_context()
    receiver, sender = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child_entry, args=(job, sender), daemon=True)
    process.start()
    sender.close()
    deadline = None if not timeout_s else time.monotonic() + timeout_s
    timed_out = False
    try:
        while True:
            if receiver.poll(0.05):
                try:
                    message = receiver.recv()
                except (EOFError, OSError):
                    break
                on_message(message)
                if message.get("type") == "done":
                    break
            elif not process.is_alive():
                while receiver.poll(0):  # rows sent just before dying
                    try:
                        on_message(receiver.recv())
                    except (EOFError, OSError):
                        break
                break
            if deadline is not None and time.monotonic() > deadline:
                timed_out = True
                process.kill()
                break
        process.join(10)
        if process.is_alive():
            process.kill()
            process.join()
    except KeyboardInterrupt:
        process.terminate()
        process.join(5)
        if process.is_alive():
            process.kill()
            process.join()
        raise
    finally:
        receiver.close()
    return process.exitcode, timed_out


def _child_entry(job: dict[str, Any], conn: Any) -> None:
    from hoot.bench.worker import child_main

    child_main(job, conn)


def probe_torch() -> dict[str, Any]:
    """Ask a child what torch can do here (CUDA devices, bf16), keeping torch out of this process."""
    found: dict[str, Any] = {}

    def keep(message: dict[str, Any]) -> None:
        if message.get("type") == "probe":
            found.update(message["info"])

    exitcode, _ = run_child({"probe": True}, keep)
    if not found:
        raise HootError(f"cannot start a measuring process (exit code {exitcode}); check that torch imports "
                        "(`python -c 'import torch'`)")
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


@dataclass
class RunResult:
    rows: list[dict[str, Any]]
    interrupted: bool = False


def run_jobs(
    jobs: list[dict[str, Any]],
    store: ResultStore,
    hardware_id: str,
    progress: bool = True,
    timeout_s: float | None = None,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Measure each job in a child; store each row as it arrives. Returns the stored rows.

    A child that dies leaves error (or oom) rows for the settings it did not finish.
    KeyboardInterrupt propagates after the child is stopped; stored rows stay stored.
    """
    from tqdm import tqdm

    rows: list[dict[str, Any]] = []
    bar = tqdm(total=len(jobs), unit="model", file=sys.stderr, disable=not progress, dynamic_ncols=True,
               bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}] {postfix}")
    try:
        for job in jobs:
            bar.set_description(f"bench {job['variant']}")
            done: set[tuple[str, int]] = set()

            ids: list[int] = []
            job_rows: list[dict[str, Any]] = []

            def keep(message: dict[str, Any], done: set = done, ids: list = ids, job_rows: list = job_rows) -> None:
                if message.get("type") == "annotate":  # FLOPs, counted after the timing
                    fields = message["fields"]
                    store.annotate(ids, fields)
                    for r in job_rows:
                        r.update(fields)
                    return
                if message.get("type") != "row":
                    return
                row = {**message["row"], "hardware_id": hardware_id}
                row_id = store.add(row)
                if row_id is not None:
                    ids.append(row_id)
                rows.append(row)
                job_rows.append(row)
                done.add((row["mode"], row["batch_size"]))
                if on_row is not None:
                    on_row(row)

            exitcode, timed_out = run_child(job, keep, timeout_s=timeout_s)
            missing = [p for p in map(tuple, job["pairs"]) if p not in done]
            if missing:
                status, message = classify_exit(exitcode, reported_oom=False)
                if timed_out:
                    status, message = "error", f"timed out after {timeout_s:g} s per model (raise --timeout)"
                for mode, batch in missing:
                    row = {k: job[k] for k in ("variant", "family", "task", "device", "dtype", "input_size",
                                               "native_input", "threads", "channels_last", "compile", "quick",
                                               "weights_file_mb")}
                    row.update(hardware_id=hardware_id, mode=mode, batch_size=batch, status=status,
                               error=message, measured_at=utc_now())
                    store.add(row)
                    rows.append(row)
                    if on_row is not None:
                        on_row(row)
            bar.set_postfix_str(_summary(rows[-1]) if rows else "")
            bar.update(1)
    finally:
        bar.close()
    return rows


def _summary(row: dict[str, Any]) -> str:
    if row.get("status") == "ok" and row.get("latency_ms") is not None:
        return f"{row['variant']} b{row['batch_size']} {row['mode']}: {row['latency_ms']:.2f} ms"
    return f"{row['variant']} b{row['batch_size']} {row['mode']}: {row.get('status')}"
