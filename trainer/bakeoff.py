"""The bake-off: every candidate trained on the same data, order, seed and budget, then ranked.

seeds/001's procedure ("test a few architectures ... with a low number of iterations (1 epoch)
and see which ones come on top") with successive halving when there are more than two
candidates.

CONTRACT (stable; trainer/study.py and trainer/scaleout.py build on it — change with care)
-----------------------------------------------------------------------------------------
- `prepare(config: ShortlistConfig, progress=True) -> RunContext`
    Scans and validates `config.data_dir`, resolves the image size (written back into the
    config), decodes every image once into `<run_dir>/cache/{train,val}_{images,labels}.npy`
    (uint8 N x 3 x S x S; any process can `np.load(path, mmap_mode="r")`), writes
    `<run_dir>/config.json` and `<run_dir>/dataset.json`. Deterministic given the config: a
    worker on another machine with the same data and config gets the same split and cache.
- `train_rung(ctx, candidate: str, rung: int) -> dict`
    Trains `candidate` to the CUMULATIVE budget of `rung` (rung r = eta**r x the base budget:
    `--steps`, or `--epochs` x steps per epoch, or `--budget-seconds`), resuming from
    `<run_dir>/bakeoff/<candidate>.pt` when it holds fewer steps, else from scratch; batch k
    of every candidate is the same images with the same augmentation (a pure function of
    seed and k), so with or without the checkpoint the answer is the same. Re-estimates
    BatchNorm statistics on training images, evaluates, and returns a flat JSON-able dict:
    candidate, rung, steps, images_seen, train_seconds, train_images_per_s, val_top1 (or
    val_f1 and val_map for multi-label), val_macro_f1, val_loss, latency_ms,
    latency_source, params, trainable_params, strategy, lr, status ("ok" | "error"), error.
- `promote(results: dict[str, dict], eta: int, metric: str) -> list[str]`
    Pure synchronous halving: the best max(1, n // eta) by `metric` (higher is better),
    ties broken by lower latency_ms, then name. Results with status != "ok" never survive.
- `rank(results, metric) -> list[str]`: the full order `promote` uses.
- `run_bakeoff(ctx, executor=None) -> BakeoffResult`
    Runs rungs until one candidate is left (or `config.rungs`); `executor(ctx, candidates,
    rung) -> {candidate: metrics}` runs one rung for the survivors. The default runs them
    in-process, one after another (`sequential_executor`). Results are saved to
    `<run_dir>/bakeoff.json` after every rung; a resumed run skips rungs already there.
- `BakeoffResult`: `.rungs` (list of {candidate: metrics}), `.winner`, `.table()` (ranking
  rows), `.to_dict()`.
- `BakeoffStream(ctx, norm).step(stepper, k) -> (loss tensor on the device, images)`: global step k of the
  bake-off (the batch, crops and flips are a pure function of seed and k).
- `checkpoint_path(ctx, candidate)`: `<run_dir>/bakeoff/<candidate>.pt` (model, optimizer,
  step, train_seconds, seed; `torch.load(..., weights_only=True)`).
- trainer/finetune.py: `finetune(ctx, winner, *, rank=0, world_size=1, ddp_wrap=None,
  sampler=None, resume=True) -> dict` (see its module doc: DistributedSampler when
  world_size > 1, rank-0-only writes, loss averaged across ranks).
- `RunContext`: `.config`, `.scan`, `.run_dir`, `.train`/`.val` (SplitCache), `.classes`,
  `.task`, `.num_classes`, `.image_size`, `.device`, `.recipe` (strategy, lr), `.metric`
  ("val_top1" or "val_f1"), `.normalizer(candidate)`, `.log(msg)`.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from hoot.advisor.catalog import Catalog, load_catalog
from hoot.advisor.devices import torch_device
from hoot.advisor.errors import HootError
from hoot.trainer.cache import SplitCache, build_cache
from hoot.trainer.config import ShortlistConfig
from hoot.trainer.data import DatasetScan, scan_dataset
from hoot.trainer.loop import (Stepper, evaluate, measure_latency_ms, recalibrate_bn)
from hoot.trainer.losses import make_loss
from hoot.trainer.metrics import primary_metric
from hoot.trainer.pipeline import (Normalizer, SeededSampler, epoch_batches, mix_seed, prefetch, steps_per_epoch,
                                   train_batch)
from hoot.trainer.strategy import Recipe, apply_strategy, make_optimizer, resolve_recipe

MIN_IMAGE_SIZE = 32  # five stride-2 stages need at least 32 px

Executor = Callable[["RunContext", list, int], dict]


@dataclass
class RunContext:
    """Everything a rung or a fine-tune needs, rebuilt by `prepare` in any process."""

    config: ShortlistConfig
    scan: DatasetScan
    train: SplitCache
    val: SplitCache
    device: torch.device
    recipe: Recipe
    catalog: Catalog
    progress: bool = True

    @property
    def run_dir(self) -> Path:
        return self.config.run_dir

    @property
    def classes(self) -> list[str]:
        return self.scan.classes

    @property
    def task(self) -> str:
        return self.scan.task

    @property
    def num_classes(self) -> int:
        return self.scan.num_classes

    @property
    def image_size(self) -> int:
        return int(self.config.image_size)

    @property
    def metric(self) -> str:
        return primary_metric(self.task)

    def normalizer(self, candidate: str) -> Normalizer:
        """Mean/std of the candidate's pretrained weights' transforms (ImageNet's when it has none)."""
        mean, std = weights_mean_std(self.catalog, candidate)
        return Normalizer(mean, std, self.device)

    def log(self, msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)


def weights_mean_std(catalog: Catalog, candidate: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    from hoot.trainer.pipeline import IMAGENET_MEAN, IMAGENET_STD

    variant = catalog.get(candidate)
    if variant.weights:
        try:
            import torchvision

            t = torchvision.models.get_weight(variant.weights).transforms()
            return tuple(t.mean), tuple(t.std)
        except (ValueError, AttributeError):
            pass
    return IMAGENET_MEAN, IMAGENET_STD


def check_candidates(catalog: Catalog, candidates: list[str], task: str) -> None:
    if not candidates:
        raise HootError("no candidates: pass --candidates a,b,c or advisor options (--target, --top K)")
    for name in candidates:
        v = catalog.get(name)
        if not v.provided:
            raise HootError(f"candidate '{name}' is not provided by torchvision; pick another with `hoot catalog`")
        if not v.supports(task):
            raise HootError(f"candidate '{name}' does not support task '{task}'; pick a classification model")


def prepare(config: ShortlistConfig, progress: bool = True) -> RunContext:
    """Scan, validate, size, decode once; write config.json and dataset.json into the run folder."""
    catalog = load_catalog()
    scan = scan_dataset(config.data_dir, config.task, config.val_fraction, config.seed)
    check_candidates(catalog, config.candidates, scan.task)
    if config.image_size is None:
        native = min(catalog.get(c).native_input_px for c in config.candidates)
        median = scan.median_size()
        config.image_size = max(MIN_IMAGE_SIZE, min(native, median or native))
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    device = torch_device(config.device)
    # settings that cannot work fail here, before any image is decoded
    resolve_recipe(config.strategy, config.pretrained, len(scan.train), config.optimizer, config.lr, config.similarity)
    run_dir = config.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    for w in scan.warnings:
        print(f"hoot: warning: {w}", file=sys.stderr)
    train, val = build_cache(scan, config.image_size, run_dir / "cache", progress=progress)
    recipe = resolve_recipe(config.strategy, config.pretrained, len(scan.train), config.optimizer, config.lr, config.similarity)
    config.save()
    summary = scan.summary()
    summary.update({"image_size": config.image_size, "cache_bytes": train.nbytes + val.nbytes,
                    "skipped_files": scan.skipped, "warnings": scan.warnings})
    _atomic_json(run_dir / "dataset.json", summary)
    if scan.skipped:
        print(f"hoot: {len(scan.skipped)} file(s) skipped (listed in {run_dir / 'dataset.json'})", file=sys.stderr)
    return RunContext(config, scan, train, val, device, recipe, catalog, progress)


def _atomic_json(path: Path, data) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    tmp.replace(path)


def atomic_torch_save(obj, path: Path) -> None:
    """Write to a temporary file then rename: an interrupted save never leaves a broken checkpoint."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def build_candidate(ctx: RunContext, candidate: str) -> torch.nn.Module:
    """The candidate with the run's head and weights; its random init depends only on the seed."""
    from hoot.bench.models import build_model

    torch.manual_seed(mix_seed(ctx.config.seed, 7))
    model = build_model(candidate, task=ctx.task, num_classes=ctx.num_classes, pretrained=ctx.config.pretrained,
                        catalog=ctx.catalog)
    apply_strategy(model, ctx.recipe.strategy)
    return model.to(ctx.device)


def _budget(ctx: RunContext, rung: int) -> tuple[int | None, float | None, int]:
    """(total steps or None, total seconds or None, warm-up steps) for `rung`, cumulative."""
    cfg = ctx.config
    spe = steps_per_epoch(len(ctx.train), cfg.batch_size)
    factor = cfg.eta ** rung
    if cfg.budget_seconds is not None:
        return None, cfg.budget_seconds * factor, max(1, spe // 10)
    base = cfg.steps if cfg.steps is not None else max(1, round(cfg.epochs * spe))
    return base * factor, None, max(1, base // 10)


def _latency(ctx: RunContext, candidate: str, model: torch.nn.Module) -> tuple[float, str]:
    """Batch-1 latency from `hoot bench`'s store for this machine and device, else measured now."""
    try:
        from hoot.bench.store import measurements_for_advice

        _info, measured = measurements_for_advice(None, "this")
        row = measured.get(candidate)
        if row and row.get("latency_ms") and str(row.get("device", "")).split(":")[0] == ctx.device.type:
            return float(row["latency_ms"]), f"hoot bench ({row.get('device')}, {row.get('input_size')} px)"
    except (ImportError, HootError, OSError, KeyError, ValueError):
        pass
    return measure_latency_ms(model, ctx.image_size, ctx.device), f"measured now ({ctx.device.type}, {ctx.image_size} px)"


def checkpoint_path(ctx: RunContext, candidate: str) -> Path:
    return ctx.run_dir / "bakeoff" / f"{candidate}.pt"


class BakeoffStream:
    """Batch k of the bake-off, for any candidate: the same images, crops and flips (a pure
    function of seed and k), then one optimiser step. train_rung's inner loop; also what
    benchmarks/train_throughput.py times against the model-only bound."""

    def __init__(self, ctx: RunContext, norm: Normalizer) -> None:
        self.ctx, self.norm = ctx, norm
        self.sampler = SeededSampler(len(ctx.train), ctx.config.seed)
        self.steps_per_epoch = steps_per_epoch(len(ctx.train), ctx.config.batch_size)
        self._epoch, self._batches = -1, []

    def indices(self, step: int) -> np.ndarray:
        epoch, pos = divmod(step, self.steps_per_epoch)
        if epoch != self._epoch:
            self._epoch, self._batches = epoch, epoch_batches(self.sampler, epoch, self.ctx.config.batch_size)
        return self._batches[pos]

    def step(self, stepper: Stepper, step: int) -> tuple[torch.Tensor, int]:
        """(training loss on the device, images) of global step `step`; never waits on the GPU (the
        loss also goes to `stepper.meter`, read once per log interval)."""
        seed, dev = self.ctx.config.seed, self.ctx.device
        idx = self.indices(step)
        x, y = train_batch(self.ctx.train, idx, mix_seed(seed, step), self.norm, dev)
        prefetch(self.ctx.train, self.indices(step + 1), dev)  # gpu helper: next batch gathered meanwhile
        torch.manual_seed(mix_seed(seed, step, 1))  # dropout too depends on the step only
        loss = stepper.step(x, y, step)
        return loss, len(idx)


def train_rung(ctx: RunContext, candidate: str, rung: int) -> dict:
    """Train `candidate` to rung `rung`'s cumulative budget, re-estimate BN, evaluate. See module doc."""
    cfg = ctx.config
    total_steps, total_seconds, warmup = _budget(ctx, rung)
    model = build_candidate(ctx, candidate)
    optimizer = make_optimizer(model, cfg.optimizer, ctx.recipe.lr, cfg.weight_decay)
    loss_fn = make_loss(ctx.task, cfg.label_smoothing, cfg.focal, cfg.focal_gamma)
    norm = ctx.normalizer(candidate)
    lr = ctx.recipe.lr
    # gpu helper (issue 10): measured precision/layout and optional compile, recorded in the result
    from hoot.trainer.device_run import log_interval, resolve_compile, resolve_precision

    precision = resolve_precision(cfg.precision, model, optimizer, loss_fn, ctx.device, cfg.batch_size, ctx.image_size,
                                  ctx.num_classes, ctx.task, ctx.run_dir / "bakeoff" / f"{candidate}.precision.json")
    stepper = Stepper(model, optimizer, loss_fn, ctx.device, lambda s: lr * min(1.0, (s + 1) / warmup), precision)
    compiled = resolve_compile(cfg.compile, stepper, cfg.batch_size, ctx.image_size, ctx.num_classes, ctx.task,
                               total_steps or 100)
    ckpt_file = checkpoint_path(ctx, candidate)
    ckpt_file.parent.mkdir(parents=True, exist_ok=True)
    step, train_seconds = 0, 0.0
    if ckpt_file.is_file():
        state = torch.load(ckpt_file, map_location=ctx.device, weights_only=True)
        if state.get("seed") == cfg.seed and (total_steps is None or state["step"] <= total_steps):
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            step, train_seconds = int(state["step"]), float(state["train_seconds"])

    stream = BakeoffStream(ctx, norm)
    spe = stream.steps_per_epoch
    start_step, images, seg_seconds = step, 0, 0.0
    from tqdm import tqdm

    bar = tqdm(total=total_steps - step if total_steps else None, desc=f"{candidate} rung {rung}", unit="step",
               disable=not ctx.progress, leave=False, file=sys.stderr)
    model.train()
    last_loss = float("nan")

    def save() -> None:
        atomic_torch_save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                           "train_seconds": train_seconds, "seed": cfg.seed, "candidate": candidate}, ckpt_file)

    every, since_read = log_interval(ctx.device), 0
    try:
        t0 = time.perf_counter()
        while (total_steps is not None and step < total_steps) or (total_seconds is not None and train_seconds < total_seconds):
            images += stream.step(stepper, step)[1]
            step += 1
            since_read += 1
            if since_read >= every or (total_steps is not None and step >= total_steps):
                last_loss = stepper.meter.read().last  # the loop's one host synchronisation
                dt, t0 = time.perf_counter() - t0, time.perf_counter()
                train_seconds += dt
                seg_seconds += dt
                bar.update(since_read)
                since_read = 0
                bar.set_postfix(loss=f"{last_loss:.3f}", img_s=f"{images / max(seg_seconds, 1e-9):.0f}")
        if since_read:
            last_loss = stepper.meter.read().last
            dt = time.perf_counter() - t0
            train_seconds += dt
            seg_seconds += dt
    except KeyboardInterrupt:
        save()  # the batches are a function of the step: resuming from here gives the same run
        raise
    finally:
        bar.close()
    save()
    bn_images = recalibrate_bn(model, ctx.train, norm, ctx.device, cfg.batch_size, cfg.bn_recalibration_images)
    metrics = evaluate(model, ctx.val, norm, ctx.device, cfg.batch_size, ctx.task, loss_fn)
    latency_ms, latency_source = _latency(ctx, candidate, model)
    from hoot.bench.models import count_params

    result = {
        "candidate": candidate, "rung": rung, "status": "ok", "error": None,
        "steps": step, "epochs_seen": round(step / spe, 3), "images_seen": step * cfg.batch_size,
        "train_seconds": round(train_seconds, 3),
        "train_images_per_s": round(images / seg_seconds, 2) if seg_seconds > 0 else None,
        "train_loss_last": last_loss,
        "latency_ms": latency_ms, "latency_source": latency_source,
        "params": count_params(model), "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "strategy": ctx.recipe.strategy, "lr": ctx.recipe.lr, "bn_recalibration_images": bn_images,
        "resumed_from_step": start_step,
        **precision.as_dict(), **compiled.as_dict(),  # gpu helper (issue 10)
    }
    result.update({k: v for k, v in metrics.items() if k not in ("confusion_matrix", "per_class")})
    return result


def rank(results: dict[str, dict], metric: str) -> list[str]:
    """Best first: `metric` descending, then latency_ms ascending, then name; failed runs last."""
    def key(name: str):
        r = results[name]
        ok = r.get("status", "ok") == "ok" and r.get(metric) is not None
        lat = r.get("latency_ms")
        return (0 if ok else 1, -(r.get(metric) or 0.0) if ok else 0.0, lat if lat is not None else math.inf, name)

    return sorted(results, key=key)


def promote(results: dict[str, dict], eta: int, metric: str) -> list[str]:
    """Synchronous successive halving: keep the best max(1, n // eta) that did not fail."""
    order = [n for n in rank(results, metric) if results[n].get("status", "ok") == "ok"]
    return order[: max(1, len(results) // eta)] if order else []


def sequential_executor(ctx: RunContext, candidates: list[str], rung: int) -> dict[str, dict]:
    """Run one rung for each candidate in this process, one after another. A candidate that
    fails (out of memory, a model that cannot take the input size) costs its row, not the run."""
    out = {}
    for name in candidates:
        try:
            out[name] = train_rung(ctx, name, rung)
        except HootError:
            raise
        except (RuntimeError, ValueError) as exc:
            ctx.log(f"hoot: candidate {name} failed at rung {rung}: {type(exc).__name__}: {exc}")
            out[name] = {"candidate": name, "rung": rung, "status": "error", "error": f"{type(exc).__name__}: {exc}"}
        else:
            r = out[name]
            ctx.log(f"{name} rung {rung}: {ctx.metric}={r.get(ctx.metric):.4f} val_loss={r['val_loss']:.4f} "
                    f"{r['train_images_per_s']} img/s")
            if r.get("val_logit_spread", 1.0) < 1e-6:
                ctx.log(f"hoot: note: {name} gives the same output for every validation image (a dead ReLU head "
                        "or collapsed training), so it scores at chance; this is the model, not an evaluation artifact")
    return out


@dataclass
class BakeoffResult:
    rungs: list[dict[str, dict]]
    winner: str
    metric: str
    candidates: list[str] = field(default_factory=list)

    def table(self) -> list[dict]:
        """One row per candidate: its furthest rung's metrics, ranked (rung reached, metric, latency)."""
        latest: dict[str, dict] = {}
        for results in self.rungs:
            latest.update(results)
        order = sorted(latest, key=lambda n: (-latest[n].get("rung", 0), rank(latest, self.metric).index(n)))
        rows = []
        for i, name in enumerate(order, 1):
            r = latest[name]
            rows.append({"rank": i, "candidate": name, "rung": r.get("rung"), self.metric: r.get(self.metric),
                         "val_loss": r.get("val_loss"), "train_images_per_s": r.get("train_images_per_s"),
                         "latency_ms": r.get("latency_ms"), "params": r.get("params"), "steps": r.get("steps"),
                         "status": r.get("status"), "winner": name == self.winner})
        return rows

    def to_dict(self) -> dict:
        return {"metric": self.metric, "winner": self.winner, "candidates": self.candidates, "rungs": self.rungs,
                "table": self.table()}


def planned_rungs(n: int, eta: int, rungs: int | None) -> int:
    if rungs is not None:
        return rungs
    return 1 if n <= 2 else math.ceil(math.log(n) / math.log(eta) - 1e-9)


def run_bakeoff(ctx: RunContext, executor: Executor | None = None) -> BakeoffResult:
    """Successive halving over rungs; results saved after every rung, finished rungs reused on resume."""
    executor = executor or sequential_executor
    cfg = ctx.config
    store = ctx.run_dir / "bakeoff.json"
    done: list[dict[str, dict]] = []
    if store.is_file():
        saved = json.loads(store.read_text())
        if saved.get("candidates") == cfg.candidates:
            done = saved.get("rungs", [])
    survivors = list(cfg.candidates)
    n_rungs = planned_rungs(len(survivors), cfg.eta, cfg.rungs)
    rungs: list[dict[str, dict]] = []
    for r in range(n_rungs):
        if r > 0:
            survivors = promote(rungs[-1], cfg.eta, ctx.metric)
            if len(survivors) <= 1:
                break
        if r < len(done) and set(done[r]) == set(survivors) and all(v.get("status") == "ok" for v in done[r].values()):
            results = done[r]
            ctx.log(f"bake-off rung {r}: reusing saved results for {', '.join(survivors)}")
        else:
            ctx.log(f"bake-off rung {r}: {len(survivors)} candidate(s), budget x{cfg.eta ** r}")
            results = executor(ctx, survivors, r)
        rungs.append(results)
        partial = BakeoffResult(rungs, "", ctx.metric, list(cfg.candidates))
        _atomic_json(store, partial.to_dict() | {"complete": False})
    final = rank(rungs[-1], ctx.metric)
    if not final or rungs[-1][final[0]].get("status") != "ok":
        raise HootError("every candidate failed in the bake-off; see the errors above (try a smaller --batch-size)")
    result = BakeoffResult(rungs, final[0], ctx.metric, list(cfg.candidates))
    _atomic_json(store, result.to_dict() | {"complete": True})
    return result
