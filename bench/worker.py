"""What runs inside the child process: build one model, measure every requested setting.

One model per child, so a crash, a hang killed by the user, or an out-of-memory costs
that model's rows and nothing else. Rows go back to the parent through a pipe as each
one finishes; the parent stores them at once. This module imports torch at the top on
purpose: the runner preloads it into a fork server, so each child starts with torch
already imported instead of paying the import per model.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import importlib.util
import os
import sys
import time
import traceback
from typing import Any, Callable

import torch
import torchvision
from torch import nn

from hoot.advisor import __version__ as hoot_version
from hoot.advisor.catalog import load_catalog
from hoot.bench.autobatch import auto_batch_size, is_oom
from hoot.bench.flops import count_flops, fvcore_gmacs, gmacs_on_meta
from hoot.bench.measure import FULL, QUICK, CPUTimer, CUDATimer, measure
from hoot.bench.memory import CPUPeak, CUDAPeak

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
DEFAULT_BUILDER = "hoot.bench.models:build_model"


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
    """Library versions recorded with each row (not part of the hardware id)."""
    return {
        "torch_version": torch.__version__,
        "torchvision_version": torchvision.__version__,
        "cuda_version": torch.version.cuda if torch.cuda.is_available() else None,
        "hoot_version": hoot_version,
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


def make_input(kind: str, batch: int, size: int, device: Any, channels_last: bool = False) -> Any:
    """Random images shaped for the model kind (detection models take a list of images)."""
    if kind == "detection":
        return [torch.randn(3, size, size, device=device) for _ in range(batch)]
    x = torch.randn(batch, 3, size, size, device=device)
    if channels_last and str(device) != "meta":
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def _logits(out: Any) -> torch.Tensor:
    """The main output of a classifier or segmenter in train mode (Inception's aux heads included)."""
    if isinstance(out, dict):
        return out["out"]
    if isinstance(out, torch.Tensor):
        return out
    main = getattr(out, "logits", None)
    return main if main is not None else out[0]


def _autocast(device: torch.device, dtype: str) -> contextlib.AbstractContextManager:
    if dtype == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=DTYPES[dtype])


def _release(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _error_text(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300] if text else ''}".strip()


class Trainer:
    """One training step (forward, backward, SGD step), with a grad scaler for fp16 on CUDA."""

    def __init__(self, model: nn.Module, kind: str, device: torch.device, dtype: str, size: int,
                 channels_last: bool):
        self.model, self.kind, self.device, self.dtype, self.size = model, kind, device, dtype, size
        self.channels_last = channels_last
        self.num_classes: int | None = None  # read off the model's output on first use
        self.optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
        self.scaler = torch.amp.GradScaler(device.type, enabled=(dtype == "fp16" and device.type == "cuda"))
        self.loss = nn.CrossEntropyLoss()
        self.batch: tuple[Any, Any] | None = None

    def prepare(self, batch: int) -> None:
        x = make_input(self.kind, batch, self.size, self.device, self.channels_last)
        if self.num_classes is None:
            was_training = self.model.training
            self.model.eval()
            with torch.no_grad(), _autocast(self.device, self.dtype):
                self.num_classes = int(_logits(self.model(x[:1])).shape[1])
            self.model.train(was_training)
        if self.kind == "segmentation":
            y = torch.randint(0, self.num_classes, (batch, self.size, self.size), device=self.device)
        else:
            y = torch.randint(0, self.num_classes, (batch,), device=self.device)
        self.batch = (x, y)

    def step(self) -> None:
        assert self.batch is not None
        x, y = self.batch
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        with _autocast(self.device, self.dtype):
            out = self.model(x)
            loss = self.loss(_logits(out), y)
            aux = getattr(out, "aux_logits", None) if not isinstance(out, (dict, torch.Tensor)) else None
            if isinstance(aux, torch.Tensor):
                loss = loss + 0.4 * self.loss(aux, y)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()

    def step_at(self, batch: int) -> None:
        """One step at a new batch size (the auto batch size search)."""
        self.prepare(batch)
        self.step()

    def cleanup(self) -> None:
        self.batch = None
        self.optimizer.zero_grad(set_to_none=True)


def run_job(job: dict[str, Any], send: Callable[[dict[str, Any]], None]) -> None:
    """Build job['variant'] and send one row per (mode, batch size) in job['pairs']."""
    torch.set_num_threads(int(job["threads"]))
    torch.manual_seed(0)
    cpu_peak = CPUPeak()
    device = torch.device(job["device"])
    kind, size, dtype = job["kind"], int(job["input_size"]), job["dtype"]
    budget = QUICK if job["quick"] else FULL
    common = {k: job[k] for k in ("variant", "family", "task", "device", "dtype", "input_size", "native_input",
                                  "threads", "channels_last", "compile", "quick", "weights_file_mb")}
    common.update(software())
    pairs: list[tuple[str, int]] = [tuple(p) for p in job["pairs"]]
    started = time.perf_counter()

    def emit(mode: str, batch: int, **fields: Any) -> None:
        row = {**common, "mode": mode, "batch_size": batch, **fields}
        row["duration_s"] = round(time.perf_counter() - started, 3)
        row["measured_at"] = _now()
        send({"type": "row", "row": row})

    try:
        builder = load_builder(job.get("builder") or DEFAULT_BUILDER)
        catalog = load_catalog(job["catalog_path"]) if job.get("catalog_path") else None

        def build() -> nn.Module:
            return builder(job["variant"], task=job["task"], num_classes=None, pretrained=False, catalog=catalog)

        t0 = time.perf_counter()
        model = build()
        build_s = time.perf_counter() - t0
        model.eval()
        params = sum(p.numel() for p in model.parameters())
        model.to(device)
        if job["channels_last"]:
            model.to(memory_format=torch.channels_last)
        runnable: Any = torch.compile(model) if job["compile"] else model
    except Exception as exc:  # noqa: BLE001 - this model's rows become error/oom rows; the run goes on
        status = "oom" if is_oom(exc) else "error"
        message = _error_text(exc)
        if os.environ.get("HOOT_DEBUG") not in (None, "", "0"):
            traceback.print_exc()
        for mode, batch in pairs:
            emit(mode, batch, status=status, error=message)
        return
    want_fvcore = bool(job.get("fvcore", not job["quick"]))
    common.update({"params": params, "build_s": round(build_s, 4)})

    timer: Any = CUDATimer(torch, device) if device.type == "cuda" else CPUTimer()
    gpu_peak = CUDAPeak(torch, device) if device.type == "cuda" else None
    trainer: Trainer | None = None
    auto_batch: int | None = None
    for mode, batch in pairs:
        fields: dict[str, Any] = {}
        try:
            if mode == "train":
                if trainer is None:
                    trainer = Trainer(runnable, kind, device, dtype, size, job["channels_last"])
                    if device.type == "cuda" and job.get("auto_batch", True):
                        found = auto_batch_size(trainer.step_at, torch, device, max_batch=int(job.get("max_auto_batch", 4096)),
                                                cleanup=trainer.cleanup)
                        auto_batch = found.batch_size
                        _release(device)
                trainer.prepare(batch)
                fn: Callable[[], Any] = trainer.step
                ctx: contextlib.AbstractContextManager = contextlib.nullcontext()
            else:
                runnable.eval()
                x = make_input(kind, batch, size, device, job["channels_last"])
                fn = lambda: runnable(x)  # noqa: E731
                ctx = _inference(device, dtype)
            if gpu_peak is not None:
                gpu_peak.reset()
            cpu_peak.reset()
            with ctx:
                timing = measure(fn, timer, budget)
            if gpu_peak is not None:
                allocated, reserved = gpu_peak.peaks_mb()
                fields.update(peak_memory_mb=allocated, peak_reserved_mb=reserved, memory_kind="cuda_allocator")
            else:
                fields.update(peak_memory_mb=cpu_peak.peak_mb(), memory_kind="cpu_rss")
            fields.update(
                status="ok", latency_ms=timing.median_ms, latency_p10_ms=timing.p10_ms, latency_p90_ms=timing.p90_ms,
                latency_cv=timing.cv, iterations=timing.iterations, timed_s=timing.timed_s,
                throughput_ips=batch / (timing.median_ms / 1e3) if timing.median_ms > 0 else None,
            )
        except Exception as exc:  # noqa: BLE001 - one setting fails, the others still run
            fields = {"status": "oom" if is_oom(exc) else "error", "error": _error_text(exc)}
            if os.environ.get("HOOT_DEBUG") not in (None, "", "0"):
                traceback.print_exc()
            del exc
            if trainer is not None:
                trainer.cleanup()
        if mode == "train":
            fields["auto_batch_size"] = auto_batch
        emit(mode, batch, **fields)
        _release(device)
    # FLOPs after the timing: counting them first (a second build on the meta device under
    # FlopCounterMode, or fvcore's torch.jit trace) slowed later eager calls in the same
    # process by ~9 % and 10-20 % on EfficientNet-B0; the parent adds them to the rows.
    model.eval()
    figures: dict[str, Any] = {}
    try:
        gmacs = gmacs_on_meta(build, lambda dev: make_input(kind, 1, size, dev))
        if gmacs is None:
            gmacs = count_flops(model, make_input(kind, 1, size, device)) / 2e9
        figures.update(gmacs=gmacs, gflops=2 * gmacs)
    except Exception:  # noqa: BLE001 - the timings stand without a FLOP count
        if os.environ.get("HOOT_DEBUG") not in (None, "", "0"):
            traceback.print_exc()
    if want_fvcore:
        figures["gmacs_fvcore"], figures["fvcore_unsupported"] = fvcore_gmacs(model, make_input(kind, 1, size, device))
    else:
        figures["fvcore_unsupported"] = "skipped in --quick"
    send({"type": "annotate", "fields": figures})


def _inference(device: torch.device, dtype: str) -> contextlib.ExitStack:
    stack = contextlib.ExitStack()
    stack.enter_context(torch.inference_mode())
    stack.enter_context(_autocast(device, dtype))
    return stack


def _now() -> str:
    from hoot.bench.store import utc_now

    return utc_now()


def child_main(job: dict[str, Any], conn: Any) -> None:
    """Entry point of the child process: run the job, report rows, then 'done'."""
    try:
        if job.get("probe"):
            conn.send({"type": "probe", "info": probe()})
        else:
            run_job(job, conn.send)
        conn.send({"type": "done"})
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        conn.close()
