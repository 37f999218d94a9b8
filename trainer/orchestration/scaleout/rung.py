"""Train one (candidate, rung) from the study's work queue and tell the study how it went.

Used by every process that trains: a `--worker`, and the coordinator itself when the study is
a journal file in the run folder (nothing else to start).
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import optuna

from hoot.advisor.errors import HootError
from hoot.advisor.metric import Metric
from hoot.trainer.orchestration.scaleout import study as st
from hoot.trainer.training.rung_result import RungResult
from hoot.trainer.orchestration.engine import Engine

log = logging.getLogger(__name__)


def worst_value(metric: Metric) -> float:
    return math.inf if metric.direction == "minimize" else -math.inf


def value_of(result: RungResult, metric: Metric) -> float:
    """The metric's number in a rung's result; failed, missing, NaN or inf → the worst value."""
    number = result.metric(metric.name) if result.ok else None
    return number if number is not None and math.isfinite(number) else worst_value(metric)


def train_next_rung(bake: st.BakeoffStudy, engine: Engine, ctx: Any, metric: Metric) -> bool:
    """Claim the oldest queued rung and train it (Optuna beats its heartbeat meanwhile); False when none waits.

    A rung that raises is recorded as FAIL with its error (the coordinator decides what it
    costs); Ctrl-C hands the rung back to the queue at once, then stops this process.
    """
    claimed: dict[str, Any] = {}

    def objective(trial: optuna.trial.Trial) -> float:
        candidate, rung = str(trial.params["candidate"]), int(trial.params["rung"])
        claimed.update(number=trial.number, candidate=candidate, rung=rung)
        trial.set_user_attr("worker", st.worker_id())
        log.info("training %s rung %d (trial %d) on %s", candidate, rung, trial.number, st.worker_id())
        start = time.perf_counter()
        try:
            result = engine.train_rung(ctx, candidate, rung)
            if not isinstance(result, RungResult):
                raise TypeError(f"engine {engine.name}'s train_rung returned a {type(result).__name__}, not a RungResult")
        except KeyboardInterrupt:
            trial.set_user_attr("error_interrupted", True)
            raise
        except Exception as exc:
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            shown = message if isinstance(exc, HootError) else f"{type(exc).__name__}: {message}"
            trial.set_user_attr("error", shown[:500])
            trial.set_user_attr("bad_input", isinstance(exc, HootError))
            log.warning("%s rung %d failed: %s: %s", candidate, rung, type(exc).__name__, message)
            raise  # Optuna records the trial as FAIL (run_next_rung catches Exception)
        seconds = time.perf_counter() - start
        trial.set_user_attr("metrics", st.json_safe(result.to_dict()))  # the flat JSON object (RungResult.from_dict)
        trial.set_user_attr("train_s", round(seconds, 3))
        log.info("done %s rung %d: %s=%s in %.1fs", candidate, rung, metric.name, result.metric(metric.name), seconds)
        return value_of(result, metric)

    try:
        return st.run_next_rung(bake, objective)
    except KeyboardInterrupt:
        if "number" in claimed:
            st.requeue(bake, claimed["number"])
            log.warning("interrupted: %s rung %d handed back to the queue", claimed["candidate"], claimed["rung"])
        raise
