"""The coordinator: create (or resume) the study, run the shared pipeline with the study's executor.

It creates the study once, before any worker touches the database and before prepare's
decoding, so workers can join at once. The bake-off is hoot's own synchronous successive
halving with `StudyExecutor`, the fine-tune runs here, or on torchrun when --nproc/--nnodes
ask for more than one process. Every phase is recorded in the study (`RunPhase`), where
workers and `--status` read it.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from hoot.advisor.errors import HootError
from hoot.trainer.config import ShortlistConfig
from hoot.trainer.orchestration.scaleout import study as st
from hoot.trainer.orchestration.engine import Engine
from hoot.trainer.orchestration.scaleout.executor import StudyExecutor
from hoot.trainer.orchestration.scaleout.fingerprint import check_same_run, fingerprint_of, settings_of, study_name_for
from hoot.trainer.orchestration.scaleout.launch import launch_finetune
from hoot.trainer.orchestration.scaleout.options import ScaleoutOptions
from hoot.trainer.orchestration.pipeline import PipelineResult, RunPhase, Stages, run_pipeline
from hoot.trainer.orchestration.results import ShortlistResult
from hoot.trainer.training.finetune_result import FinetuneResult

log = logging.getLogger(__name__)


class StudyStages(Stages):
    """The pipeline's hooks for a coordinator: phases and results into the study, DDP fine-tune."""

    def __init__(self, bake: st.BakeoffStudy, engine: Engine, opts: ScaleoutOptions, config: Any) -> None:
        super().__init__(progress=True)
        self.bake, self.engine, self.opts, self.config = bake, engine, opts, config
        self.executor: StudyExecutor | None = None

    def phase(self, phase: RunPhase) -> None:
        self.bake.set_attr("phase", phase.value)

    def prepare(self, engine: Engine, config: Any) -> Any:
        ctx = super().prepare(engine, config)
        metric = engine.metric(ctx)
        if metric.direction != self.bake.main.direction.name.lower():
            raise HootError(f"the engine ranks on {metric.name} ({metric.direction}) but study '{self.bake.name}' "
                            f"was made to {self.bake.main.direction.name.lower()}; start a new --study")
        self.bake.set_attr("metric", metric.name)
        self.executor = StudyExecutor(self.bake, engine, metric, train_here=self.opts.storage is None)
        return ctx

    def bakeoff_done(self, ctx: Any, winner: str, table: list[dict[str, Any]], bakeoff_s: float) -> None:
        assert self.executor is not None
        self.executor.finish(winner)
        if self.opts.storage:
            _winner_weights_here(ctx, self.engine, self.executor, winner)
        self.bake.set_attr("winner", winner)
        self.bake.set_attr("table", st.json_safe(table))
        self.bake.set_attr("coordinator_bakeoff_s", round(bakeoff_s, 3))
        self.bake.set_attr("coordinator_storage_s", round(self.bake.timer.seconds, 3))
        log.info("winner: %s; fine-tuning on %d process(es)", winner, self.opts.world_size)

    def finetune(self, engine: Engine, ctx: Any, winner: str, run_dir: Path) -> FinetuneResult:
        if self.opts.world_size == 1:
            return super().finetune(engine, ctx, winner, run_dir)
        opts = self.opts
        return launch_finetune(self.config, winner, nproc=opts.nproc, nnodes=opts.nnodes,
                               rdzv_endpoint=opts.rdzv_endpoint, sync_bn=opts.sync_bn, engine=engine.name,
                               run_dir=run_dir, storage=opts.storage, study=self.bake.name if opts.storage else None)

    def done(self, result: PipelineResult) -> None:
        self.bake.set_attr("finetune", st.json_safe({"final": result.final((int, float)),
                                                     "world_size": result.finetune.world_size}))
        self.bake.set_attr("phase", RunPhase.DONE.value)
        log.info("storage calls took %.2fs (%d calls) of a %.1fs bake-off", self.bake.timer.seconds,
                 self.bake.timer.calls, result.bakeoff_s)


def _open(config: Any, opts: ScaleoutOptions, heartbeat_s: int) -> Any:
    if opts.storage:
        return st.open_storage(opts.storage, create=True, heartbeat_s=heartbeat_s)
    return st.open_storage(None, journal_path=Path(config.run_dir) / "study.journal", create=True)


def run_coordinator(config: ShortlistConfig, opts: ScaleoutOptions, engine: Engine) -> ShortlistResult:
    """Create or resume the study, then run the pipeline: run_local's steps, scaled out."""
    fingerprint = fingerprint_of(config)
    name = study_name_for(opts.study, fingerprint)
    heartbeat_s = st.heartbeat_seconds_from_env()
    storage = _open(config, opts, heartbeat_s)
    if opts.storage and name in st.study_names(storage):
        check_same_run(st.load(storage, name), config)  # before anything is written
    attrs_new = {"fingerprint": fingerprint, "settings": settings_of(config), "config": config.to_dict(),
                 "heartbeat_s": heartbeat_s, "engine": engine.name, "run_dir": str(Path(config.run_dir).resolve()),
                 "phase": RunPhase.PREPARING.value}
    bake, resumed = st.create_or_load(storage, name, engine.metric(config), attrs_new,
                                      heartbeat_s=heartbeat_s if opts.storage else None)
    recorded = bake.attrs()
    if resumed:
        check_same_run(bake, config)
        log.info("resuming study '%s' (%s)", name, RunPhase.of(recorded.get("phase")).value)
    else:
        where = f"'{st.redact(opts.storage)}'" if opts.storage else "a journal file in the run folder"
        log.info("study '%s' created in %s", name, where)
    if opts.storage:
        log.info("start workers with the same options plus: --storage '%s' --study %s --worker",
                 st.redact(opts.storage), name)
    if resumed and RunPhase.of(recorded.get("phase")) == RunPhase.DONE:
        log.info("study '%s' is finished: winner %s", name, recorded.get("winner"))
        return ShortlistResult(study=name, winner=str(recorded.get("winner")), table=recorded.get("table") or [],
                               finetune=recorded.get("finetune"))
    stages = StudyStages(bake, engine, opts, config)
    try:
        result = run_pipeline(config, engine, lambda ctx, names, rung: stages.executor(ctx, names, rung), stages)
    except HootError:
        bake.set_attr("phase", RunPhase.FAILED.value)  # workers stop waiting
        raise
    return ShortlistResult(study=name, run_id=config.run_id, run_dir=str(result.run_dir), winner=result.winner,
                           table=result.table, final=result.final((int, float)), finetune=result.finetune,
                           storage_s=round(bake.timer.seconds, 3), storage_calls=bake.timer.calls,
                           bakeoff_s=result.bakeoff_s)


def _winner_weights_here(ctx: Any, engine: Engine, executor: StudyExecutor, winner: str) -> None:
    """The fine-tune continues from the winner's bake-off weights, which a worker trained in its
    own run folder (maybe on another machine). train_rung is deterministic, so the coordinator
    re-trains the winner's last rung here (one rung of one model; a no-op when its checkpoint is
    already here) and checks that it gets the number the worker reported."""
    rungs = [r for (name, r) in executor.results if name == winner]
    if not rungs:
        return
    last = max(rungs)
    log.info("rebuilding %s's rung %d weights here for the fine-tune", winner, last)
    mine = engine.train_rung(ctx, winner, last)
    theirs = executor.results[(winner, last)]
    key = "val_loss" if theirs.metric("val_loss") is not None else executor.metric.name
    a, b = mine.metric(key), theirs.metric(key)
    if a is not None and b is not None and not math.isclose(float(a), float(b), rel_tol=1e-4, abs_tol=1e-6):
        log.warning("%s rung %d gives %s=%s here but %s on the worker (different hardware or library "
                    "versions train slightly differently)", winner, last, key, a, b)
