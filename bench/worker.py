"""What runs inside the child process: build one model, measure every requested setting.

The runner keeps one warm child (forked from a fork server that preloaded this module,
so torch is already imported) and sends it one `BenchJob` at a time; rows go back
through the pipe as `RowMessage`s the moment each exists. A model that crashes, runs the
machine out of memory or is killed costs that model's rows: the runner records them and
starts a fresh child for the next model. After anything that may leave state behind (a
CUDA error, a failed graph capture, torch.compile) the child asks to be replaced.
This module imports torch at the top on purpose (the fork server preloads it).
"""

from __future__ import annotations

import ctypes
import gc
import importlib
import importlib.util
import os
import sys
import tempfile
import time
import traceback
from typing import Any, Callable

import torch
import torchvision
from torch import nn

import hoot.bench.models  # noqa: F401 - the default builder, imported once in the fork server, not per child
from hoot.advisor import __version__ as hoot_version
from hoot.advisor.catalog import load_catalog
from hoot.bench.autobatch import auto_batch_size, is_oom
from hoot.bench.flops import count_flops, fvcore_gmacs, gmacs_moved_to_meta
from hoot.bench.jobs import Annotation, BenchJob, JobDone, ProbeReply, ProbeRequest, RowMessage, Stop
from hoot.bench.contention import BusyMonitor
from hoot.bench.measure import CPUTimer, CUDATimer, budget_for, measure
from hoot.bench.memory import CPUPeak, CUDAPeak
from hoot.bench.phases import Phases
from hoot.bench.records import EXPORTED_RUNTIMES, ONDEVICE_RUNTIMES, Measurement
from hoot.bench.steps import (DTYPES, Trainer, _autocast, _error_text, _release, inference_context,  # noqa: F401
                              make_input)

DEFAULT_BUILDER = "hoot.bench.models:build_model"
#: fvcore_unsupported of a row whose run did not ask for the cross-check (`hoot bench --fvcore`)
FVCORE_NOT_ASKED = "not cross-checked (hoot bench --fvcore)"
__all__ = ["DTYPES", "_autocast", "make_input", "run_job", "worker_loop", "probe", "load_builder"]


def load_builder(spec: str) -> Callable[..., nn.Module]:
    """'package.module:function' or '/path/to/file.py:function' -> the model builder."""
    module_name, _, attr = spec.rpartition(":")
    if module_name.endswith(".py"):
        loader_spec = importlib.util.spec_from_file_location(f"hoot_builder_{abs(hash(module_name))}", module_name)
        if loader_spec is None or loader_spec.loader is None:
            raise ImportError(f"cannot load builder file {module_name}")
        module = importlib.util.module_from_spec(loader_spec)
        loader_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(module_name)
    return getattr(module, attr)


def software() -> dict[str, Any]:
    """Library versions recorded with each row (not part of the hardware id).

    Plain `str`s: torch.__version__ is a TorchVersion, and unpickling one in the parent
    imports all of torch there (seconds at start, more at exit; issue 9).
    """
    return {
        "torch_version": str(torch.__version__),
        "torchvision_version": str(torchvision.__version__),
        "cuda_version": str(torch.version.cuda) if torch.cuda.is_available() and torch.version.cuda else None,
        "hoot_version": str(hoot_version),
    }


def probe() -> dict[str, Any]:
    """What this torch can do here: CUDA devices and CPU bfloat16 support (asked once per run)."""
    info = software()
    info["cuda_available"] = bool(torch.cuda.is_available())
    info["cuda_devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] \
        if info["cuda_available"] else []
    try:
        info["cpu_bf16"] = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except Exception:  # noqa: BLE001 - older builds without the query
        info["cpu_bf16"] = False
    info["cuda_bf16"] = bool(info["cuda_available"] and torch.cuda.is_bf16_supported())
    return info


def _debug() -> bool:
    return os.environ.get("HOOT_DEBUG") not in (None, "", "0")


def _now() -> str:
    from hoot.bench.store import utc_now

    return utc_now()


def _measurement(job: BenchJob, mode: str, batch: int, started: float, extra: dict[str, Any],
                 **fields: Any) -> Measurement:
    """The row of one setting as a typed Measurement (figures in fields, other columns in extra)."""
    known = {k: fields.pop(k) for k in list(fields) if k in Measurement.__dataclass_fields__}
    extra = {**job.common_fields(), **extra, **fields, "duration_s": round(time.perf_counter() - started, 3)}
    return Measurement(key=job.key(mode, batch), measured_at=_now(), extra=extra, **known)


def _inference_call(job: BenchJob, model: nn.Module, runnable: Any, batch: int, device: torch.device,
                    folder: str) -> tuple[Callable[[], Any], Any, Any, dict[str, Any]]:
    """(call, context, timer, facts for the row) for one inference setting under the job's runtime."""
    import contextlib

    x = make_input(job.kind, batch, job.input_size, device, job.channels_last)
    if job.runtime in EXPORTED_RUNTIMES:
        from hoot.bench.ondevice.bench_call import ondevice_call
        from hoot.bench.runtimes import ort_call

        if job.kind == "detection":
            raise RuntimeError(f"--runtime {job.runtime}: detection models are not exported to ONNX by hoot bench")
        if job.runtime in ONDEVICE_RUNTIMES:
            call, facts = ondevice_call(model, x, job.runtime, job.threads, os.path.join(folder, str(batch)))
        else:
            call, facts = ort_call(model, x, job.runtime, job.threads, job.device, os.path.join(folder, str(batch)),
                                   job.calibration_batches)
        return call, contextlib.nullcontext(), CPUTimer(), facts  # run() returns on the host: wall clock
    timer: Any = CUDATimer(torch, device) if device.type == "cuda" else CPUTimer()
    if job.runtime == "cuda_graph":
        from hoot.bench.graphs import capture_inference

        return capture_inference(runnable, x, device, job.dtype), contextlib.nullcontext(), timer, {}
    return (lambda: runnable(x)), inference_context(device, job.dtype), timer, {}


def run_job(job: BenchJob, send: Callable[[Any], None], phases: Phases | None = None) -> bool:
    """Build job.variant and send one RowMessage per (mode, batch) in job.pairs, then the FLOP counts.

    Returns whether this process should be replaced before the next job. `phases` collects
    where the job's time went (bench.phases).
    """
    phases = phases if phases is not None else Phases()
    torch.set_num_threads(int(job.threads))
    torch.manual_seed(0)
    cpu_peak = CPUPeak()
    started = time.perf_counter()
    ort = job.runtime in EXPORTED_RUNTIMES
    device = torch.device("cpu" if ort else job.device)
    common: dict[str, Any] = software()
    try:
        with phases.time("load_builder"):
            builder = load_builder(job.builder or DEFAULT_BUILDER)
            catalog = load_catalog(job.catalog_path) if job.catalog_path else None

        sized = {"image_size": job.input_size} if builder is hoot.bench.models.build_model else {}

        def build() -> nn.Module:  # the default builder is told the size it is measured at (a ViT depends on it)
            return builder(job.variant, task=job.task, num_classes=None, pretrained=False, catalog=catalog, **sized)

        t0 = time.perf_counter()
        model = build_on(device, build)
        build_s = time.perf_counter() - t0
        phases.add("build", build_s)
        with phases.time("setup"):
            model.eval()
            # inference rows time the network as it ships (train-time branches folded); training rows the
            # form that trains. A job with both keeps the two (a folded copy: a few MB for the models that fold)
            trains = any(mode == "train" for mode, _ in job.pairs)
            params = sum(p.numel() for p in model.parameters())  # the architecture's count, as the catalog's
            deployed_as = hoot.bench.models.deploy_form(model)  # asked before an in-place fold
            shipped = hoot.bench.models.deployable(model, inplace=not trains)
            for form in {id(model): model, id(shipped): shipped}.values():
                form.to(device)
                if job.channels_last:
                    form.to(memory_format=torch.channels_last)
            runnable: Any = torch.compile(model) if job.runtime == "compile" and trains else model
            shipped_runnable: Any = torch.compile(shipped) if job.runtime == "compile" else shipped
    except Exception as exc:  # noqa: BLE001 - this model's rows become error/oom rows; the run goes on
        status, message = ("oom" if is_oom(exc) else "error"), _error_text(exc)
        if _debug():
            traceback.print_exc()
        for mode, batch in job.pairs:
            send(RowMessage(_measurement(job, mode, batch, started, common, status=status, error=message)))
        return True
    # the package that built it (a custom --builder's module may not say)
    common.update({"build_s": round(build_s, 4), "model_source": getattr(model, "hoot_source", None),
                   "model_source_version": getattr(model, "hoot_source_version", None)})
    timer_device = device
    gpu_peak = CUDAPeak(torch, device) if device.type == "cuda" else None
    trainer: Trainer | None = None
    auto: Any = None
    restart = job.runtime in ("compile", "cuda_graph")
    folder = tempfile.mkdtemp(prefix="hoot-bench-")
    try:
        for mode, batch in job.pairs:
            fields: dict[str, Any] = {"params": params, "deploy_form": deployed_as if mode == "inference" else "as_built"}
            try:
                if mode == "train":
                    if trainer is None:
                        trainer = Trainer(runnable, job.kind, device, job.dtype, job.input_size, job.channels_last)
                        if device.type == "cuda" and job.auto_batch:
                            auto = auto_batch_size(trainer.step_at, torch, device, max_batch=job.max_auto_batch,
                                                   cleanup=trainer.cleanup, time_budget_s=job.auto_batch_budget_s,
                                                   max_bisect=4)
                            _release(device)
                    with phases.time("input"):
                        trainer.prepare(batch)
                    fn: Callable[[], Any] = trainer.step
                    import contextlib

                    ctx: Any = contextlib.nullcontext()
                    timer: Any = CUDATimer(torch, timer_device) if device.type == "cuda" else CPUTimer()
                else:
                    shipped_runnable.eval()
                    with phases.time("input"):
                        fn, ctx, timer, facts = _inference_call(job, shipped, shipped_runnable, batch, device, folder)
                    fields.update(facts)
                with phases.time("memory"):
                    if gpu_peak is not None:
                        gpu_peak.reset()
                    cpu_peak.reset()
                t0 = time.perf_counter()
                monitor = BusyMonitor(int(job.threads), device.index or 0 if device.type == "cuda" else None)
                with ctx:
                    timing = measure(fn, timer, budget_for(device.type, job.quick), monitor=monitor)
                _timing_phases(phases, timing, time.perf_counter() - t0)
                with phases.time("memory"):
                    if gpu_peak is not None:
                        allocated, reserved = gpu_peak.peaks_mb()
                        fields.update(peak_memory_mb=allocated, peak_reserved_mb=reserved,
                                      memory_kind="cuda_allocator")
                    else:
                        fields.update(peak_memory_mb=cpu_peak.peak_mb(), memory_kind="cpu_rss")
                fields.update(
                    status="ok", latency_ms=timing.median_ms, latency_p10_ms=timing.p10_ms,
                    latency_p90_ms=timing.p90_ms, latency_cv=timing.cv, latency_spread_ms=timing.spread_ms,
                    converged=timing.converged, stopped_by=timing.stopped_by, iterations=timing.iterations,
                    timed_s=timing.timed_s,
                    throughput_ips=batch / (timing.median_ms / 1e3) if timing.median_ms > 0 else None,
                    **timing.busy.fields(),
                )
            except Exception as exc:  # noqa: BLE001 - one setting fails, the others still run
                fields = {"status": "oom" if is_oom(exc) else "error", "error": _error_text(exc)}
                restart = restart or device.type == "cuda"  # a CUDA error may be sticky
                if _debug():
                    traceback.print_exc()
                del exc
                if trainer is not None:
                    trainer.cleanup()
            if mode == "train":
                fields["auto_batch_size"] = auto.batch_size if auto is not None else None
                fields["auto_batch_s"] = auto.search_s if auto is not None else None
            send(RowMessage(_measurement(job, mode, batch, started, common, **fields)))
            with phases.time("release"):
                _release(device)
    finally:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
    send(Annotation(_flop_figures(job, build, model, device, phases)))
    return restart


def build_on(device: torch.device, build: Callable[[], nn.Module]) -> nn.Module:
    """Build the model where it will run. On a GPU its random initialisation then runs there:
    no seconds of CPU init and no host-to-device copy per model (issue 9, "moving weights").
    A builder that fails under the device context (one that makes CPU-only tensors) is
    built on the CPU instead, and the caller's `.to(device)` moves it; an OOM is an OOM.
    """
    if device.type == "cpu":
        return build()
    try:
        with device:
            return build()
    except Exception as exc:  # noqa: BLE001 - retried the ordinary way below
        if is_oom(exc):
            raise
        del exc
        _release(device)
        return build()


def _timing_phases(phases: Phases, timing: Any, wall_s: float) -> None:
    """Split one measure() call into warm-up, timed calls and the loop's own bookkeeping."""
    phases.add("warmup", timing.warmup_s)
    phases.add("timed", timing.timed_s)
    phases.add("timing_loop", max(0.0, wall_s - timing.warmup_s - timing.timed_s))
    phases.count("warmup_iters", timing.warmup_iters)
    phases.count("iterations", timing.iterations)


def _flop_figures(job: BenchJob, build: Callable[[], nn.Module], model: nn.Module, device: torch.device,
                  phases: Phases) -> dict[str, Any]:
    """FLOPs after the timing (counting first slowed later eager calls by ~9 %, 10-20 % on
    EfficientNet-B0); skipped where the store already has them for (variant, input size).

    The fvcore cross-check traces the real model (a real forward pass, about a second per
    model), so it runs only when the job asks for it. torch's count then runs on the same
    model moved to the meta device (no arithmetic, no second build); where a model can't
    run there, on a fresh real copy. The model is not usable afterwards.
    """
    figures: dict[str, Any] = {k: v for k, v in job.known_figures.items()
                               if k in ("gmacs", "gflops", "gmacs_fvcore", "fvcore_unsupported")}
    model.eval()
    size = job.input_size
    if job.fvcore and figures.get("gmacs_fvcore") is None:
        with phases.time("fvcore"):
            figures["gmacs_fvcore"], figures["fvcore_unsupported"] = fvcore_gmacs(
                model, make_input(job.kind, 1, size, device))
    elif not job.fvcore and "fvcore_unsupported" not in figures:
        figures["fvcore_unsupported"] = FVCORE_NOT_ASKED
    if figures.get("gmacs") is None:
        try:
            with phases.time("flops"):
                gmacs = gmacs_moved_to_meta(model, lambda dev: make_input(job.kind, 1, size, dev))
                if gmacs is None:
                    real = build().eval().to(device)
                    gmacs = count_flops(real, make_input(job.kind, 1, size, device)) / 2e9
            figures.update(gmacs=gmacs, gflops=2 * gmacs)
        except Exception:  # noqa: BLE001 - the timings stand without a FLOP count
            if _debug():
                traceback.print_exc()
    return figures


def _trim_heap() -> None:
    """Give freed memory back (OS heap, CUDA cache), so the next model's peaks start from a clean baseline.

    What survives the collection (modules imported on the way, torch's caches) is frozen:
    later collections skip it, so one costs milliseconds, not a walk over all of torch.
    """
    gc.collect()
    gc.freeze()
    if torch.cuda.is_initialized():  # cached blocks would count in the next model's reserved peak
        torch.cuda.empty_cache()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        pass


def worker_loop(conn: Any) -> None:
    """A warm child: answer probes and run jobs until told to stop or asked to be replaced."""
    gc.freeze()  # torch and torchvision, imported by the fork server, are never garbage (see _trim_heap)
    try:
        while True:
            try:
                request = conn.recv()
            except (EOFError, OSError):
                return
            if isinstance(request, Stop):
                return
            if isinstance(request, ProbeRequest):
                conn.send(ProbeReply(probe()))
                continue
            phases = Phases()
            with phases.time("job"):
                restart = run_job(request, conn.send, phases)
            with phases.time("trim"):
                _trim_heap()
            conn.send(JobDone(restart, phases.as_dict()))
            if restart:
                return
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        conn.close()
