"""`hoot shortlist` end to end on one machine: prepare -> bake-off -> fine-tune -> report.

The steps are hoot.trainer.orchestration.pipeline's, shared with the scale-out coordinator; here
they run in this process with hoot's own trainer. Each stage writes its result into the run
folder as soon as it exists (bakeoff.json per rung, last.pt/best.pt per epoch,
finetune.json), so an interrupted run keeps what it measured and `--resume RUN` continues.
"""

from __future__ import annotations

import dataclasses
from hoot.trainer.config import ShortlistConfig
from hoot.trainer.orchestration.engine import Executor, default_engine
from hoot.trainer.orchestration.pipeline import Stages, run_pipeline
from hoot.trainer.orchestration.results import ShortlistResult
from hoot.trainer.runfiles import locate_run


def run_local(config: ShortlistConfig, progress: bool = True, executor: Executor | None = None) -> ShortlistResult:
    """Run (or resume) a shortlist in this process; returns the bake-off table and final metrics."""
    result = run_pipeline(config, default_engine(), executor, Stages(progress=progress))
    return ShortlistResult(run_id=config.run_id, run_dir=str(result.run_dir), winner=result.winner, table=result.table,
                           final=result.final((float,)))


def resume_config(output: str, run: str) -> ShortlistConfig:
    """The saved settings of run `run` (a run folder path, a run id under `output` or in hoot's run index)."""
    path = locate_run(run, output, option="--resume")
    return dataclasses.replace(ShortlistConfig.load(path / "config.json"), output=str(path.parent))
