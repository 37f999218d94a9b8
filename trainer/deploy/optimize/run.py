"""`optimize_run`: build each deployment variant of a run's fine-tuned winner and measure it
side by side (seeds/002 "Step 4: Optimize After Selection"): batch-1 latency, throughput at a
batch, file size, memory, and accuracy on the held-out split against the fp32 reference.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from hoot.advisor.errors import HootError
from hoot.trainer.deploy.optimize import accuracy
from hoot.trainer.deploy.optimize.measuring import PeakRss, TimingRule, held_out_score, time_predict
from hoot.trainer.deploy.optimize.variants import BUILDERS, DEFAULT_VARIANTS, REFERENCE, BuildContext, Built, Skip
from hoot.trainer.tasks.base import LossOptions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OptimizeOptions:
    variants: tuple[str, ...] = DEFAULT_VARIANTS
    calibration_images: int = 128
    batch_size: int = 32  # throughput batch
    threads: int = 0  # 0: all cores this process may use
    seed: int = 0
    timing_px: int | None = None  # None: the run's training size
    device: str = "auto"
    rule: TimingRule = TimingRule()
    out_dir: Path | None = None  # None: the run folder

    def resolved_threads(self) -> int:
        if self.threads:
            return self.threads
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@dataclass
class VariantRow:
    """One variant's measurements, or its status and reason when it did not run."""

    variant: str
    status: str  # ok | skipped | error
    reason: str = ""
    runtime: str = ""
    precision: str = ""
    device: str = ""
    latency_ms: float | None = None
    latency_p10_ms: float | None = None
    latency_p90_ms: float | None = None
    throughput_ips: float | None = None
    batch_size: int | None = None
    threads: int | None = None
    input_px: int | None = None
    file: str | None = None
    file_mb: float | None = None
    peak_mem_mb: float | None = None
    score: float | None = None  # the task's metric on the held-out split (OptimizeResult.metric names it)
    score_delta_pts: float | None = None
    speedup: float | None = None
    build_s: float | None = None
    details: dict = field(default_factory=dict)


@dataclass
class OptimizeResult:
    run_dir: Path
    variant_name: str
    image_size: int
    timing_px: int
    threads: int
    held_out: str
    held_out_images: int
    calibration_images: int
    rows: list[VariantRow]
    metric: str = "test_top1"  # what `score` is: the run's task metric on the held-out test split

    def to_dict(self) -> dict:
        d = asdict(self)
        d["run_dir"] = str(self.run_dir)
        return d


def _file_mb(path: Path | None) -> float | None:
    return round(path.stat().st_size / 2**20, 3) if path is not None and path.is_file() else None


def measure_variant(name: str, built: Built, timing_x: np.ndarray, batch_x: np.ndarray, rule: TimingRule) -> VariantRow:
    """Latency at batch 1 and throughput at a batch, both by the same rule."""
    lat = time_predict(built.predict, timing_x, rule, built.sync)
    thr = time_predict(built.predict, batch_x, rule, built.sync)
    return VariantRow(name, "ok", runtime=built.runtime, precision=built.precision, device=built.device,
                      latency_ms=round(lat.median_ms, 3), latency_p10_ms=round(lat.p10_ms, 3),
                      latency_p90_ms=round(lat.p90_ms, 3), throughput_ips=round(len(batch_x) * 1000.0 / thr.median_ms, 1),
                      batch_size=len(batch_x), input_px=int(timing_x.shape[-1]),
                      file=str(built.file) if built.file else None, file_mb=_file_mb(built.file), details=built.details)


def _peak(device: torch.device):
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    return PeakRss()


def run_variant(name: str, ctx: BuildContext, timing_x: np.ndarray, batch_x: np.ndarray, rule: TimingRule,
                evaluate) -> VariantRow:
    """Build, time and score one variant; a Skip or any error becomes the row's status and reason."""
    t0 = time.perf_counter()
    try:
        with _peak(ctx.device) as mem:
            built = BUILDERS[name](ctx)
            build_s = time.perf_counter() - t0
            row = measure_variant(name, built, timing_x, batch_x, rule)
        row.peak_mem_mb = round(torch.cuda.max_memory_allocated(ctx.device) / 2**20 if ctx.device.type == "cuda"
                                else mem.added_mb, 1)
        row.build_s = round(build_s, 2)
        row.score = evaluate(built)
        return row
    except Skip as exc:
        log.info("%s skipped: %s", name, exc)
        return VariantRow(name, "skipped", reason=str(exc))
    except Exception as exc:  # noqa: BLE001 - a variant that fails is a row; the others go on
        log.warning("%s failed: %s: %s", name, type(exc).__name__, str(exc).splitlines()[0][:300] if str(exc) else "")
        return VariantRow(name, "error", reason=f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}",
                          build_s=round(time.perf_counter() - t0, 2))


def compare_to_reference(rows: list[VariantRow]) -> list[VariantRow]:
    """Speed-up against eager fp32's batch-1 latency and the score's change in points."""
    ref = next((r for r in rows if r.variant == REFERENCE and r.status == "ok"), None)
    out = []
    for r in rows:
        if ref is not None and r.status == "ok":
            r = replace(r, speedup=round(ref.latency_ms / r.latency_ms, 2) if r.latency_ms else None,
                        score_delta_pts=None if r.score is None or ref.score is None
                        else round(100.0 * (r.score - ref.score), 2))
        out.append(r)
    return out


def _batch(images: np.ndarray, n: int) -> np.ndarray:
    reps = -(-n // len(images))
    return np.ascontiguousarray(np.concatenate([images] * reps)[:n])


def optimize_run(run_dir: Path, opts: OptimizeOptions = OptimizeOptions()) -> OptimizeResult:
    """Measure every variant in `opts.variants` for the run in `run_dir` (see the module docstring)."""
    from hoot.advisor.devices import torch_device
    from hoot.trainer.deploy.trained import load_trained

    from hoot.trainer.tasks import get_task

    model, meta = load_trained(run_dir)
    task = get_task(meta["task"])
    threads = opts.resolved_threads()
    device = torch_device(opts.device)
    out_dir = Path(opts.out_dir or run_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    train, held = accuracy.load_splits(run_dir)
    mean, std, size = meta["mean"], meta["std"], int(meta["image_size"])
    calibration = accuracy.normalise(accuracy.calibration_images(train, opts.calibration_images, opts.seed), mean, std)
    timing_px = int(opts.timing_px or size)
    timing_batch = accuracy.resize_batch(_batch(calibration, opts.batch_size), timing_px)
    ctx = BuildContext(model, out_dir, size, calibration, threads, device)
    eval_batch = opts.batch_size

    def evaluate(built: Built) -> float:
        evaluator = task.evaluator(len(meta["classes"]), task.make_loss(LossOptions()))
        return round(held_out_score(built.predict, held.images, held.labels, evaluator, task.metric.name, eval_batch,
                                    transform=lambda u8: accuracy.normalise(u8, mean, std)), 4)

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        rows = []
        for name in opts.variants:
            log.info("optimize: building and measuring %s", name)
            row = run_variant(name, ctx, timing_batch[:1], timing_batch, opts.rule, evaluate)
            rows.append(replace(row, threads=threads) if row.status == "ok" else row)
    finally:
        torch.set_num_threads(previous)
    return OptimizeResult(run_dir, meta["variant"], size, timing_px, threads, held.name, len(held),
                          int(len(calibration)), compare_to_reference(rows), "test_" + task.metric.name[len("val_"):])
