"""A toy bake-off engine with hoot.trainer.training.bakeoff's contract (hoot.trainer.orchestration.engine.BakeoffEngine), for testing the coordination fast.

train_rung's metric is a fixed function of (seed, candidate, rung), so any worker computes
the same number; it sleeps HOOT_TOY_RUNG_S seconds (to leave time to kill a worker mid-rung)
and appends "candidate rung pid" to HOOT_TOY_LOG so a test can count executions.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

from hoot.trainer.training.finetune_result import FinetuneResult
from hoot.trainer.training.rung_result import RungResult


def prepare(config: Any) -> SimpleNamespace:
    run_dir = Path(config.output) / config.run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    return SimpleNamespace(config=config, run_dir=run_dir, metric="val_top1", candidates=list(config.candidates))


def _quality(seed: int, candidate: str) -> float:
    return int(hashlib.sha256(f"{seed}:{candidate}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def train_rung(ctx: SimpleNamespace, candidate: str, rung: int) -> RungResult:
    log = os.environ.get("HOOT_TOY_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"start {candidate} {rung} {os.getpid()}\n")
    time.sleep(float(os.environ.get("HOOT_TOY_RUNG_S", "0")))
    if candidate == os.environ.get("HOOT_TOY_FAIL"):
        raise RuntimeError(f"toy failure in {candidate}")
    q = _quality(ctx.config.seed, candidate)
    top1 = round(min(1.0, q * (1 + 0.1 * rung)), 6)
    ckpt = ctx.run_dir / f"{candidate}.json"
    ckpt.write_text(json.dumps({"rung": rung}))
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"done {candidate} {rung} {os.getpid()}\n")
    return RungResult(candidate=candidate, rung=rung, metrics={"val_top1": top1, "val_loss": 1 - top1})


def promote(results: dict[str, RungResult], eta: int, metric: str) -> list[str]:
    ranked = sorted((c for c in results if results[c].ok), key=lambda c: (-(results[c].metric(metric) or 0.0), c))
    return ranked[: max(1, math.ceil(len(ranked) / eta))]


@dataclass(frozen=True)
class ToyBakeoff:
    """The toy's bake-off outcome (hoot.trainer.orchestration.engine.BakeoffOutcome); reads like
    the dict it was (`outcome["winner"]`) for the tests that compare runs."""

    winner: str
    rungs: dict[int, dict[str, RungResult]]

    def table(self) -> list[dict[str, Any]]:
        return []

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)


def run_bakeoff(ctx: SimpleNamespace, executor: Callable | None = None) -> ToyBakeoff:
    executor = executor or (lambda c, names, r: {n: train_rung(c, n, r) for n in names})
    survivors = list(ctx.candidates)
    eta = ctx.config.eta
    history = {}
    rung = 0
    while True:
        results = executor(ctx, survivors, rung)
        history[rung] = results
        if len(survivors) == 1:
            break
        survivors = promote(results, eta, ctx.metric)
        rung += 1
    return ToyBakeoff(survivors[0], history)


def finetune(ctx: SimpleNamespace, winner: str, *, rank: int = 0, world_size: int = 1, ddp_wrap=None) -> FinetuneResult:
    return FinetuneResult(winner=winner, world_size=world_size, extra={"val_top1": _quality(ctx.config.seed, winner)})
