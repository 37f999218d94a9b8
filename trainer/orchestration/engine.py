"""The bake-off engine the scale-out drives: a contract (`BakeoffEngine`) and its functions (`Engine`).

A seam, not a plug-in system: tests run the same coordination against a toy engine
(hoot.testing.toy_engine) in milliseconds before the real one (hoot.trainer.training.bakeoff and
finetune) trains models. An engine module provides the four functions of `BakeoffEngine`,
and may provide `write_report(run_dir)`. A rung's result is a `hoot.trainer.training.rung_result.RungResult`
whatever the engine; the study stores its `to_dict()`.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from hoot.advisor.metric import Metric
from hoot.trainer.config import ShortlistConfig
from hoot.trainer.training.finetune_result import FinetuneResult
from hoot.trainer.training.rung_result import RungResult


class EngineContext(Protocol):
    """What `prepare` returns, as the coordination reads it: the run folder (an engine's context
    may also name its `metric` and `task`; `Engine.metric` looks for them)."""

    run_dir: Path


class BakeoffOutcome(Protocol):
    """What `run_bakeoff` returns: the winner and the ranked table (one row per candidate)."""

    winner: str

    def table(self) -> list[dict[str, Any]]: ...


#: trains one rung of some candidates: (ctx, candidates, rung) -> candidate -> its result
Executor = Callable[[Any, list[str], int], dict[str, RungResult]]


class BakeoffEngine(Protocol):
    """What an engine module provides; `ctx` is whatever its `prepare` returns."""

    def prepare(self, config: ShortlistConfig) -> EngineContext:
        """Scan and decode the data once; the run's context (has `run_dir`, maybe `metric`)."""

    def train_rung(self, ctx: Any, candidate: str, rung: int) -> RungResult:
        """Train one candidate for one rung (deterministic): its result (metrics in `.metrics`)."""

    def run_bakeoff(self, ctx: Any, executor: Executor | None = None) -> BakeoffOutcome:
        """Synchronous successive halving; `executor(ctx, candidates, rung)` trains one rung."""

    def finetune(self, ctx: Any, winner: str, *, rank: int = 0, world_size: int = 1,
                 ddp_wrap: Callable | None = None) -> FinetuneResult:
        """Fine-tune the winner (one rank of a DDP run when world_size > 1)."""


@dataclass(frozen=True)
class Engine:
    """The functions of one engine module, the metric it ranks on, and its report writer."""

    prepare: Callable[..., EngineContext]
    train_rung: Callable[[Any, str, int], RungResult]
    run_bakeoff: Callable[[Any, Executor | None], BakeoffOutcome]
    finetune: Callable[..., FinetuneResult]
    report: Callable[[Path], Any] | None = None
    name: str = "trainer"

    @classmethod
    def from_module(cls, name: str, bakeoff: BakeoffEngine, finetune: BakeoffEngine | None = None,
                    report: Callable[[Path], Any] | None = None) -> Engine:
        return cls(prepare=bakeoff.prepare, train_rung=bakeoff.train_rung, run_bakeoff=bakeoff.run_bakeoff,
                   finetune=(finetune or bakeoff).finetune, report=report, name=name)

    @staticmethod
    def metric(ctx: Any) -> Metric:
        """The metric the bake-off ranks on: the context's own, else the task's primary metric."""
        metric = getattr(ctx, "metric", None)
        if metric:
            return metric if isinstance(metric, Metric) else Metric.named(str(metric))
        from hoot.trainer.tasks import AUTO, detect_task, get_task

        config = getattr(ctx, "config", ctx)
        task = getattr(ctx, "task", None) or getattr(config, "task", AUTO)
        if task == AUTO:  # a config before prepare: the layout decides, as prepare will
            task = detect_task(config.data_dir, getattr(config, "annotations", None))
        return get_task(task).metric


def default_engine() -> Engine:
    """hoot's own trainer: bake-off, fine-tune and report from hoot.trainer, the data checked first (hoot doctor's cheap checks)."""
    from functools import partial

    from hoot.trainer.health.doctor import preflight
    from hoot.trainer.report import write_report
    from hoot.trainer.training import bakeoff, finetune

    engine = Engine.from_module("trainer", bakeoff, finetune, write_report)
    # hoot doctor's cheap checks scan the data first (every process that prepares gets the same split)
    return dataclasses.replace(engine, prepare=partial(bakeoff.prepare, preflight=preflight))


def load_engine(spec: str | None) -> Engine:
    """'module' naming an engine module (see `BakeoffEngine`); None or 'trainer' → hoot's own trainer."""
    if not spec or spec == "trainer":
        return default_engine()
    module = importlib.import_module(spec)
    return Engine.from_module(spec, module, module, getattr(module, "write_report", None))
