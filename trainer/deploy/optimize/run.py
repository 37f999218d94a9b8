"""`optimize_run`: build each deployment variant of a run's fine-tuned winner and measure it
side by side (seeds/002 "Step 4: Optimize After Selection"): batch-1 latency, throughput at a
batch, file size, memory, and accuracy on the held-out split against the fp32 reference.

Every figure comes from the measuring method `hoot bench` uses (bench.measure.measure_call:
warm-up, timed blocks until the median settles, the machine's business watched) and the one
peak-memory tracker (bench.memory), so optimize's eager row and bench's row of the same
model, size, batch and threads agree (benchmarks/optimize_vs_bench.py).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from hoot.advisor.errors import HootError
from hoot.trainer.deploy.optimize import accuracy, ondevice_variants  # noqa: F401 - registers the on-device variants
from hoot.bench.measure import FULL, QUICK, Budget, measure_call
from hoot.bench.ondevice.base import python_output_to_debug_log
from hoot.bench.memory import CPUPeak, CUDAPeak
from hoot.trainer.deploy.optimize.scoring import held_out_score
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
    quick: bool = False  # bench's --quick budget: a smoke check, not a measurement
    out_dir: Path | None = None  # None: the run folder
    qat_epochs: int = 2  # the *-int8-qat variants: epochs of quantisation-aware training (qat.py)
    qat_lr: float = 1e-4

    def resolved_threads(self) -> int:
        if self.threads:
            return self.threads
        from hoot.advisor.devices import usable_cores

        return usable_cores()

    @property
    def budget(self) -> Budget:
        """bench's CPU budgets (the host clock times every variant: each returns numpy)."""
        return QUICK if self.quick else FULL


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
    converged: bool | None = None  # the batch-1 timing settled before its budget ran out
    contended: bool | None = None  # other processes held the cores or the GPU while it was timed
    busy_other_cores: float | None = None  # their CPU use during the batch-1 timing, in cores
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
    """The shipped file's size; an OpenVINO IR's .xml graph counts with its .bin weights beside it."""
    if path is None or not path.is_file():
        return None
    parts = [path] + ([path.with_suffix(".bin")] if path.suffix == ".xml" and path.with_suffix(".bin").is_file() else [])
    return round(sum(p.stat().st_size for p in parts) / 2**20, 3)


def _timed(built: Built, x: np.ndarray) -> Callable[[], None]:
    """One call of the variant on `x`, finished when it returns (the predict's numpy result, then sync)."""
    sync = built.sync

    def call() -> None:
        built.predict(x)
        if sync is not None:
            sync()

    return call


def _graphs_compiled() -> int:
    """How many graphs torch.compile has compiled in this process (0 where it cannot tell)."""
    try:
        from torch._dynamo.utils import counters

        return int(counters["stats"]["unique_graphs"])
    except Exception:  # noqa: BLE001 - a private counter; its absence only loses the check
        return 0


def measure_variant(name: str, built: Built, timing_x: np.ndarray, batch_x: np.ndarray, budget: Budget,
                    threads: int) -> VariantRow:
    """Latency at batch 1 and throughput at a batch, both by bench's measuring method. Each shape is
    run once before any timing, so a compiled variant's (re)compile for a new batch size or input size
    is never timed (a compile row once showed 24.5 img/s against 4,884 for eager); a recompile that
    still happens while timing is recorded in the row's details, so the figure is never silently wrong."""
    for x in (timing_x, batch_x):
        built.predict(x)
    if built.sync:
        built.sync()
    gpu = (torch.device(built.device).index or 0) if built.device.startswith("cuda") else None
    compiled_before = _graphs_compiled()
    lat = measure_call(_timed(built, timing_x), threads, budget, gpu)
    thr = measure_call(_timed(built, batch_x), threads, budget, gpu)
    recompiles = _graphs_compiled() - compiled_before
    if recompiles:
        log.warning("%s recompiled %d time(s) while it was timed: its figures include compile time", name, recompiles)
        built.details["recompiled_while_timed"] = recompiles
    busy = lat.busy if lat.busy is not None and (thr.busy is None or lat.busy.other_cores >= thr.busy.other_cores) \
        else thr.busy
    return VariantRow(name, "ok", runtime=built.runtime, precision=built.precision, device=built.device,
                      latency_ms=round(lat.median_ms, 3), latency_p10_ms=round(lat.p10_ms, 3),
                      latency_p90_ms=round(lat.p90_ms, 3), throughput_ips=round(len(batch_x) * 1000.0 / thr.median_ms, 1),
                      batch_size=len(batch_x), input_px=int(timing_x.shape[-1]),
                      file=str(built.file) if built.file else None, file_mb=_file_mb(built.file), details=built.details,
                      converged=lat.converged, contended=bool(lat.contended or thr.contended),
                      busy_other_cores=None if busy is None else round(busy.other_cores, 3))


def run_variant(name: str, ctx: BuildContext, timing_x: np.ndarray, batch_x: np.ndarray, budget: Budget,
                evaluate, unsupported: dict[str, str] | None = None) -> VariantRow:
    """Build, time and score one variant; a Skip or any error becomes the row's status and reason.

    Peak memory: what the variant added while it was built and run (bench.memory's trackers:
    the CUDA allocator's peak, or this process's resident high-water mark over the level before).
    """
    t0 = time.perf_counter()
    try:
        cpu_peak = CPUPeak()
        cpu_peak.reset()
        gpu_peak = CUDAPeak(torch, ctx.device) if ctx.device.type == "cuda" else None
        if gpu_peak is not None:
            gpu_peak.reset()
        with python_output_to_debug_log(name):  # converters print graphs when they refuse a model
            built = BUILDERS[name](ctx)
        build_s = time.perf_counter() - t0
        row = measure_variant(name, built, timing_x, batch_x, budget, ctx.threads)
        row.peak_mem_mb = round(gpu_peak.peaks_mb()[0] if gpu_peak is not None else cpu_peak.peak_mb(), 1)
        row.build_s = round(build_s, 2)
        row.score = evaluate(built)
        return row
    except Skip as exc:
        log.info("%s skipped: %s", name, exc)
        return VariantRow(name, "skipped", reason=str(exc))
    except Exception as exc:  # noqa: BLE001 - a variant that fails is a row; the others go on
        if unsupported and name in unsupported:  # the task says why this route cannot take its models
            log.info("%s skipped: %s", name, unsupported[name])
            log.debug("%s: %s: %s", name, type(exc).__name__, str(exc).splitlines()[0][:300] if str(exc) else "")
            return VariantRow(name, "skipped", reason=unsupported[name], build_s=round(time.perf_counter() - t0, 2))
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


def qat_factory(run_dir: Path, task, splits: accuracy.RunSplits, mean, std, score_split, opts: OptimizeOptions):
    """What makes each *-int8-qat variant's fine-tune: the run's loss and augmentation on its training split,
    kept by the task's metric on the validation split (qat.py says why). `score_split(predict, images_u8,
    targets)` is that metric, as INT8's accuracy guard scores it."""
    from hoot.trainer.config import ShortlistConfig
    from hoot.trainer.data.pipeline import Normalizer
    from hoot.trainer.deploy.optimize.qat import QatFinetune, QatOptions

    cfg = ShortlistConfig.load(run_dir / "config.json")
    loss = task.criterion(LossOptions.of(cfg))
    validation = splits.validation
    score_validation = None if validation is None else (
        lambda predict: score_split(predict, validation.images, validation.labels))
    options = QatOptions(opts.qat_epochs, opts.qat_lr, seed=opts.seed)
    return lambda: QatFinetune(task, splits.train_cache, loss, Normalizer(mean, std), score_validation, options)


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
    splits = accuracy.load_splits(run_dir)
    train, held = splits.train, splits.held
    mean, std, size = meta["mean"], meta["std"], int(meta["image_size"])
    calibration = accuracy.normalise(accuracy.calibration_images(train, opts.calibration_images, opts.seed), mean, std)
    timing_px = int(opts.timing_px or size)
    # a detector's file answers one image per call: its throughput and its score go image by image
    eval_batch = 1 if task.export_one_image else opts.batch_size
    if task.export_one_image and opts.batch_size != 1:
        log.info("optimize: a %s model's file answers one image per call: throughput is measured at batch 1", task.name)
    timing_batch = accuracy.resize_batch(_batch(calibration, eval_batch), timing_px)

    def score(predict, images: np.ndarray, targets: np.ndarray, batch: int = eval_batch) -> float:
        """The task's metric of `predict` on uint8 images: the held-out figure, and INT8's guard on validation."""
        evaluator = task.evaluator(len(meta["classes"]), task.make_loss(LossOptions()))
        return held_out_score(predict, images, targets, evaluator, task.metric.name, batch,
                              transform=lambda u8: accuracy.normalise(u8, mean, std), to_outputs=task.outputs_from_export)

    def score_split(predict, images: np.ndarray, targets: np.ndarray) -> float:
        """The metric on a split other than the held-out one (INT8's guard, QAT's epochs: validation)."""
        return score(predict, images, targets, min(eval_batch, len(images)))

    guard = accuracy.accuracy_guard(splits.validation, score_split, mean, std)
    ctx = BuildContext(model, out_dir, size, calibration, threads, device, task=task, guard=guard,
                       qat=qat_factory(run_dir, task, splits, mean, std, score_split, opts)
                       if any(v.endswith("-qat") for v in opts.variants) else None)

    def evaluate(built: Built) -> float:
        return round(score(built.predict, held.images, held.labels), 4)

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        rows = []
        for name in opts.variants:
            log.info("optimize: building and measuring %s", name)
            row = run_variant(name, ctx, timing_batch[:1], timing_batch, opts.budget, evaluate, task.unsupported_variants)
            rows.append(replace(row, threads=threads) if row.status == "ok" else row)
    finally:
        torch.set_num_threads(previous)
    return OptimizeResult(run_dir, meta["variant"], size, timing_px, threads, held.name, len(held),
                          int(len(calibration)), compare_to_reference(rows), "test_" + task.metric.name[len("val_"):])
