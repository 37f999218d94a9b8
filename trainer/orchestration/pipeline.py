"""One shortlist pipeline, prepare -> bake-off -> fine-tune -> report, for every way of running it.

`hoot shortlist` in one process (hoot.trainer.orchestration.shortlist.run_local) and the scale-out
coordinator (coordinator.run_coordinator) run this same function; they differ only in the
executor that trains a rung (in process, or through the study's work queue) and in the
`Stages` hooks (where the fine-tune runs, what is recorded at each phase).

Each stage writes its result into the run folder as soon as it exists (bakeoff.json per
rung, finetune.json), so an interrupted run keeps what it measured and a rerun resumes.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from hoot.trainer.runfiles import atomic_write_json, mark_complete
from hoot.trainer.orchestration.engine import Engine, Executor
from hoot.trainer.training.finetune_result import FinetuneResult

log = logging.getLogger(__name__)


class RunPhase(str, Enum):
    """Where a run is; the coordinator stores it (by value) in the study, where workers read it."""

    PREPARING = "preparing"
    BAKEOFF = "bakeoff"
    FINETUNE = "finetune"
    REPORT = "report"
    DONE = "done"
    FAILED = "failed"

    @property
    def wants_workers(self) -> bool:
        """Workers wait for (or train) rungs while the bake-off is being prepared or runs."""
        return self in (RunPhase.PREPARING, RunPhase.BAKEOFF)

    @property
    def has_winner(self) -> bool:
        return self in (RunPhase.FINETUNE, RunPhase.REPORT, RunPhase.DONE)

    @classmethod
    def of(cls, value: Any) -> RunPhase:
        """The phase a study records; a study without one is in its bake-off (hoot's first format)."""
        try:
            return cls(value) if value is not None else cls.BAKEOFF
        except ValueError:
            return cls.FAILED


@dataclass(frozen=True)
class PipelineResult:
    """What a finished pipeline hands back: the bake-off's ranking and the winner's fine-tune."""

    run_dir: Path
    winner: str
    table: list[dict[str, Any]]
    finetune: FinetuneResult
    bakeoff_s: float = 0.0

    def final(self, kinds: tuple[type, ...] = (float,)) -> dict[str, Any]:
        """The fine-tune's final numbers (held-out test metrics)."""
        return self.finetune.final_numbers(kinds)


class Stages:
    """The hooks of the pipeline; these defaults run everything in this process."""

    def __init__(self, progress: bool = True) -> None:
        self.progress = progress

    def phase(self, phase: RunPhase) -> None:
        """Called as each phase starts."""

    def prepare(self, engine: Engine, config: Any) -> Any:
        return engine.prepare(config) if self.progress else engine.prepare(config, progress=False)

    def bakeoff_done(self, ctx: Any, winner: str, table: list[dict[str, Any]], bakeoff_s: float) -> None:
        """Called with the bake-off's result, before the fine-tune starts."""

    def finetune(self, engine: Engine, ctx: Any, winner: str, run_dir: Path) -> FinetuneResult:
        result = engine.finetune(ctx, winner)
        atomic_write_json(run_dir / "finetune.json", result.to_dict())
        return result

    def done(self, result: PipelineResult) -> None:
        """Called once the report is written."""


def _report(engine: Engine, run_dir: Path) -> None:
    if engine.report is not None and (run_dir / "bakeoff.json").is_file():
        engine.report(run_dir)


def run_pipeline(config: Any, engine: Engine, executor: Executor | None = None,
                 stages: Stages | None = None) -> PipelineResult:
    """Run (or resume) prepare -> bake-off -> fine-tune -> report; see the module docstring."""
    stages = stages or Stages()
    stages.phase(RunPhase.PREPARING)
    ctx = stages.prepare(engine, config)
    run_dir = Path(getattr(ctx, "run_dir", None) or config.run_dir)
    stages.phase(RunPhase.BAKEOFF)
    started = time.perf_counter()
    try:
        outcome = engine.run_bakeoff(ctx, executor)
    finally:
        _report(engine, run_dir)  # whatever rungs finished are reported, even when one failed
    bakeoff_s = time.perf_counter() - started
    winner, table = outcome.winner, outcome.table()
    stages.bakeoff_done(ctx, winner, table, bakeoff_s)
    stages.phase(RunPhase.FINETUNE)
    ft_file = run_dir / "finetune.json"
    try:
        # a finetune.json from an earlier session is reused (--full-epochs 0: best.pt holds the bake-off weights)
        finetune = FinetuneResult.from_dict(json.loads(ft_file.read_text())) if ft_file.is_file() else None
        if finetune is not None:
            log.info("fine-tune of %s reused from the interrupted run (%s)", winner, ft_file.name)
        else:
            finetune = stages.finetune(engine, ctx, winner, run_dir)
    except BaseException:
        _report(engine, run_dir)  # the fine-tune failed or was interrupted: the bake-off's report stands
        raise
    stages.phase(RunPhase.REPORT)
    _report(engine, run_dir)
    result = PipelineResult(run_dir, winner, table, finetune, round(bakeoff_s, 3))
    stages.done(result)
    mark_complete(run_dir)  # last: a run folder without the marker did not finish
    log.info("report: %s (and report.html, metrics.json, best.pt)", run_dir / "report.md")
    return result
