"""`hoot shortlist` beyond one process: the bake-off as an Optuna study, the fine-tune on torchrun.

Three roles, one entry point (`run_shortlist`), chosen by the scale-out options:

* coordinator (default, coordinator.py): creates the study once, then runs the pipeline
  `hoot shortlist` runs in one process (pipeline.py: prepare -> bake-off -> fine-tune ->
  report) with an executor that queues each rung's candidates in the study and waits for
  their results (executor.py), and the fine-tune on DDP through torchrun when
  `--nproc`/`--nnodes` ask for more than one process (launch.py). Without `--storage` the
  study is a journal file in the run folder and the coordinator trains the rungs itself.
* `--worker` (worker.py): claims queued rungs and trains them (rung.py) until the bake-off is
  over; joins the fine-tune when `--nnodes` > 1.
* `--status` (status.py): one row per candidate, progress of every rung.

The halving is synchronous on purpose: every candidate of a rung finishes before anyone is
promoted, so the winner does not depend on which worker was fastest (see hoot.trainer.orchestration.scaleout.study).
Below: options.py (the flags), fingerprint.py; the bake-off engine contract is hoot.trainer.orchestration.engine.
"""

from __future__ import annotations

from typing import Any

from hoot.trainer.config import ShortlistConfig
from hoot.trainer.orchestration.results import ShortlistResult, WorkerSummary
from hoot.trainer.orchestration.scaleout import study as st
from hoot.trainer.orchestration.scaleout.coordinator import run_coordinator
from hoot.trainer.orchestration.engine import BakeoffEngine, Engine, default_engine, load_engine
from hoot.trainer.orchestration.scaleout.options import ScaleoutOptions
from hoot.trainer.orchestration.pipeline import RunPhase, run_pipeline
from hoot.trainer.orchestration.scaleout.status import run_status, status_rows
from hoot.trainer.orchestration.scaleout.worker import run_worker


def run_shortlist(config: ShortlistConfig | None, scaleout_options: dict[str, Any], *,
                  engine: Engine | None = None) -> ShortlistResult | WorkerSummary | list[dict[str, Any]]:
    """Entry point for `hoot shortlist` with any scale-out flag (see the module docstring).

    Returns the coordinator's result or the worker's summary, or with --status the rows to show.
    """
    opts = ScaleoutOptions.from_dict(scaleout_options)
    with st.optuna_quiet():
        if opts.status:
            return run_status(opts)
        assert config is not None, "a coordinator or a worker needs the run's settings"
        engine = engine or default_engine()
        if opts.worker:
            return run_worker(config, opts, engine)
        return run_coordinator(config, opts, engine)


__all__ = ["BakeoffEngine", "Engine", "RunPhase", "ScaleoutOptions", "ShortlistResult", "WorkerSummary", "default_engine", "load_engine", "run_coordinator",
           "run_pipeline", "run_shortlist", "run_status", "run_worker", "status_rows"]
