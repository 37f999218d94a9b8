"""The bake-off: every candidate trained on the same data, order, seed and budget, then ranked.

seeds/001's procedure ("test a few architectures ... with a low number of iterations (1 epoch)
and see which ones come on top") with successive halving when there are more than two
candidates.

CONTRACT (stable; trainer/orchestration/engine.py states it as `BakeoffEngine`; orchestration/pipeline.py and scaleout/ build on it — change with care)
-----------------------------------------------------------------------------------------
- `prepare(config: ShortlistConfig, progress=True) -> RunContext` (trainer/training/context.py)
    Scans and validates `config.data_dir`, splits it into train/val/test, resolves the image
    size into `ctx.image_size` (the config is frozen and not changed), decodes every image
    once into `<run_dir>/cache/{train,val,test}_{images,labels}.npy` (uint8 N x 3 x S x S; any
    process can `np.load(path, mmap_mode="r")`), writes `<run_dir>/config.json`,
    `dataset.json` and `splits.json`. Deterministic given the config: a worker on another
    machine with the same data and config gets the same split and cache.
- `train_rung(ctx, candidate: str, rung: int) -> RungResult` (trainer/training/rung.py, trainer/training/rung_result.py)
    Trains `candidate` to the CUMULATIVE budget of `rung` (rung r = eta**r x the base budget:
    `--steps`, or `--epochs` x steps per epoch, or `--budget-seconds`), resuming from
    `<run_dir>/bakeoff/<candidate>.pt` when it holds fewer steps, else from scratch; batch k
    of every candidate is the same images with the same augmentation (a pure function of
    seed and k), so with or without the checkpoint the answer is the same. Re-estimates
    BatchNorm statistics on training images, evaluates, and returns a frozen `RungResult`:
    candidate, rung, status ("ok" | "error"), error, steps, epochs_seen, images_seen,
    train_seconds, train_images_per_s, train_loss_last, latency_ms (batch 1 at the run's
    training size, measured now: one setting for every candidate), latency_source, params,
    trainable_params, strategy, lr, head_lr, bn_recalibration_images, resumed_from_step, the
    step's precision and compile fields, and `.metrics` (val_top1, val_top5, val_macro_f1,
    val_loss, val_logit_spread; val_f1 and val_map for multi-label), read with
    `.metric(name)`. `RungResult.failed(candidate, rung, error)` is a rung that raised.
    On disk (bakeoff.json, Optuna user attributes) it is `to_dict()`'s flat JSON object
    (metrics beside the fields, as hoot always wrote it); `RungResult.from_dict` reads it back,
    also as older runs wrote it.
- `promote(results: dict[str, RungResult], eta: int, metric: str) -> list[str]`
    Pure synchronous halving: the best max(1, n // eta) by `metric` (its direction from
    hoot.advisor.metric.Metric), ties broken by lower latency_ms only when every latency was
    taken at one setting (else by name). Results with status != "ok" never survive.
- `rank(results, metric) -> list[str]`: the full order `promote` uses.
- `run_bakeoff(ctx, executor=None) -> BakeoffResult`
    Runs rungs until one candidate is left (or `config.rungs`); `executor(ctx, candidates,
    rung) -> {candidate: RungResult}` runs one rung for the survivors. The default runs them
    in-process, one after another (`sequential_executor`). Results are saved to
    `<run_dir>/bakeoff.json` after every rung; a resumed run skips rungs already there.
- `BakeoffResult`: `.rungs` (list of {candidate: RungResult}), `.winner`, `.table()` (rows
  ranked by score, each at the furthest rung it reached), `.to_dict()` (bakeoff.json's
  shape), `BakeoffResult.rungs_from_json(saved["rungs"])` (read them back).
- `BakeoffStream(ctx, norm).step(stepper, k) -> (loss, images)`: global step k of the
  bake-off (the batch, crops and flips are a pure function of seed and k).
- `checkpoint_path(ctx, candidate)`: `<run_dir>/bakeoff/<candidate>.pt` (model, optimizer,
  step, train_seconds, seed; `torch.load(..., weights_only=True)`).
- trainer/training/finetune.py: `finetune(ctx, winner, *, rank=0, world_size=1, ddp_wrap=None,
  sampler=None, resume=True) -> dict` (see its module doc: DistributedSampler when
  world_size > 1, rank-0-only writes, loss averaged across ranks).
- `RunContext`: `.config`, `.scan`, `.run_dir`, `.train`/`.val`/`.test` (SplitCache),
  `.classes`, `.task`, `.num_classes`, `.image_size`, `.device`, `.recipe` (strategy, lr,
  head_lr), `.metric` ("val_top1" or "val_f1"), `.objective` (its Metric),
  `.normalizer(candidate)`, `.log(msg)`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Callable

from hoot.advisor.errors import HootError
from hoot.advisor.metric import Metric
from hoot.trainer.training.context import (MIN_IMAGE_SIZE, RunContext, build_caches, check_candidates, prepare,  # noqa: F401
                                  weights_mean_std)
from hoot.trainer.training.rung import BakeoffStream, build_candidate, checkpoint_path, train_rung  # noqa: F401
from hoot.trainer.training.rung_result import RungResult
from hoot.trainer.runfiles import atomic_torch_save, atomic_write_json  # noqa: F401

Executor = Callable[[RunContext, list, int], dict[str, RungResult]]


def _one_latency_setting(results: dict[str, RungResult]) -> bool:
    """Latencies may break ties only when every one was taken at the same setting."""
    sources = {r.latency_source for r in results.values() if r.ok}
    return len(sources) == 1 and None not in sources


def rank(results: dict[str, RungResult], metric: str) -> list[str]:
    """Best first by `metric` (Metric decides the direction), then latency_ms when every latency
    is of one setting, then name; failed runs last."""
    objective = Metric.named(metric)
    by_latency = _one_latency_setting(results)

    def key(name: str):
        r = results[name]
        value = r.metric(metric)
        ok = r.ok and value is not None
        lat = r.latency_ms if by_latency else None
        return (0 if ok else 1, objective.sort_key(value) if ok else 0.0,
                lat if lat is not None else math.inf, name)

    return sorted(results, key=key)


def promote(results: dict[str, RungResult], eta: int, metric: str) -> list[str]:
    """Synchronous successive halving: keep the best max(1, n // eta) that did not fail."""
    order = [n for n in rank(results, metric) if results[n].ok]
    return order[: max(1, len(results) // eta)] if order else []


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def sequential_executor(ctx: RunContext, candidates: list[str], rung: int) -> dict[str, RungResult]:
    """Run one rung for each candidate in this process, one after another. A candidate that
    fails (out of memory, a model that cannot take the input size) costs its row, not the run."""
    out: dict[str, RungResult] = {}
    for name in candidates:
        try:
            out[name] = train_rung(ctx, name, rung)
        except HootError:
            raise
        except (RuntimeError, ValueError) as exc:
            ctx.log(f"hoot: candidate {name} failed at rung {rung}: {type(exc).__name__}: {exc}")
            out[name] = RungResult.failed(name, rung, f"{type(exc).__name__}: {exc}")
        else:
            r = out[name]
            ctx.log(f"{name} rung {rung}: {ctx.metric}={_fmt(r.metric(ctx.metric))} val_loss={_fmt(r.metric('val_loss'))} "
                    f"{r.train_images_per_s} img/s")
            spread = r.metric("val_logit_spread")
            if spread is not None and spread < 1e-6:
                ctx.log(f"hoot: note: {name} gives the same output for every validation image (a dead ReLU head "
                        "or collapsed training), so it scores at chance; this is the model, not an evaluation artifact")
    return out


@dataclass
class BakeoffResult:
    rungs: list[dict[str, RungResult]]
    winner: str
    metric: str
    candidates: list[str] = field(default_factory=list)

    def table(self) -> list[dict]:
        """One row per candidate at the furthest rung it reached, ranked by score (the metric in its
        direction), not by how far it got; the `rung` column says how far that was."""
        latest: dict[str, RungResult] = {}
        for results in self.rungs:
            latest.update(results)
        order = rank(latest, self.metric)
        rows = []
        for i, name in enumerate(order, 1):
            r = latest[name]
            rows.append({"rank": i, "candidate": name, "rung": r.rung, self.metric: r.metric(self.metric),
                         "val_loss": r.metric("val_loss"), "train_images_per_s": r.train_images_per_s,
                         "latency_ms": r.latency_ms, "latency_source": r.latency_source, "params": r.params,
                         "steps": r.steps, "status": r.status, "winner": name == self.winner})
        return rows

    def to_dict(self) -> dict:
        """bakeoff.json: every rung's results as flat JSON objects, and the ranked table."""
        return {"metric": self.metric, "winner": self.winner, "candidates": self.candidates,
                "rungs": [{name: r.to_dict() for name, r in results.items()} for results in self.rungs],
                "table": self.table()}

    @staticmethod
    def rungs_from_json(saved: list) -> list[dict[str, RungResult]]:
        """bakeoff.json's "rungs" back as records (also as older runs wrote them); ValueError when broken."""
        if not isinstance(saved, list):
            raise ValueError("rungs must be a list")
        return [{name: RungResult.from_dict(r, candidate=name, rung=i) for name, r in dict(results).items()}
                for i, results in enumerate(saved)]


def planned_rungs(n: int, eta: int, rungs: int | None) -> int:
    if rungs is not None:
        return rungs
    return 1 if n <= 2 else math.ceil(math.log(n) / math.log(eta) - 1e-9)


def _saved_rungs(ctx: RunContext) -> list[dict[str, RungResult]]:
    """The rungs a resumed run already finished (bakeoff.json of this candidate list); [] otherwise."""
    store = ctx.run_dir / "bakeoff.json"
    if not store.is_file():
        return []
    try:
        saved = json.loads(store.read_text(encoding="utf-8"))
        if saved.get("candidates") != list(ctx.config.candidates):
            return []
        return BakeoffResult.rungs_from_json(saved.get("rungs", []))
    except (ValueError, TypeError, AttributeError) as exc:
        # a broken file (from before atomic writes, or edited by hand): the rungs are trained again
        ctx.log(f"hoot: note: {store} cannot be read ({type(exc).__name__}); its rungs are trained again")
        return []


def _why_redone(done: list[dict[str, RungResult]], r: int, survivors: list[str]) -> str:
    if r >= len(done):
        return "the interrupted run did not finish it"
    failed = sorted(n for n, v in done[r].items() if not v.ok)
    if failed:
        return f"{', '.join(failed)} failed there in the interrupted run"
    return f"its candidates changed ({', '.join(sorted(done[r]))} then, {', '.join(survivors)} now)"


def run_bakeoff(ctx: RunContext, executor: Executor | None = None) -> BakeoffResult:
    """Successive halving over rungs; results saved after every rung, finished rungs reused on resume."""
    executor = executor or sequential_executor
    cfg = ctx.config
    store = ctx.run_dir / "bakeoff.json"
    done = _saved_rungs(ctx)
    survivors = list(cfg.candidates)
    n_rungs = planned_rungs(len(survivors), cfg.eta, cfg.rungs)
    rungs: list[dict[str, RungResult]] = []
    for r in range(n_rungs):
        if r > 0:
            survivors = promote(rungs[-1], cfg.eta, ctx.metric)
            if len(survivors) <= 1:
                break
        if r < len(done) and set(done[r]) == set(survivors) and all(v.ok for v in done[r].values()):
            results = done[r]
            ctx.log(f"bake-off rung {r} of {', '.join(survivors)} reused from the interrupted run ({store.name})")
        else:
            if done:  # a resumed run says what it trains again, and why
                ctx.log(f"bake-off rung {r} trained again: {_why_redone(done, r, survivors)}")
            ctx.log(f"bake-off rung {r}: {len(survivors)} candidate(s), budget x{cfg.eta ** r}")
            results = executor(ctx, survivors, r)
        rungs.append(results)
        partial = BakeoffResult(rungs, "", ctx.metric, list(cfg.candidates))
        atomic_write_json(store, partial.to_dict() | {"complete": False})
    final = rank(rungs[-1], ctx.metric)
    if not final or not rungs[-1][final[0]].ok:
        raise HootError("every candidate failed in the bake-off; see the errors above (try a smaller --batch-size)")
    result = BakeoffResult(rungs, final[0], ctx.metric, list(cfg.candidates))
    atomic_write_json(store, result.to_dict() | {"complete": True})
    return result
