"""The bake-off's executor on a study: queue a rung's candidates, wait for their results, report them.

`StudyExecutor(ctx, candidates, rung)` is what `run_bakeoff` calls instead of training the
rung in process. The candidates' own trials (one per candidate, in the study the dashboard
shows) get each rung's value with `trial.report(value, step=rung)`; dropped candidates are
pruned, finalists completed.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

from hoot.advisor.errors import HootError
from hoot.advisor.metric import Metric
from hoot.trainer.orchestration.scaleout import study as st
from hoot.trainer.training.rung_result import RungResult
from hoot.trainer.orchestration.engine import Engine
from hoot.trainer.orchestration.scaleout.rung import train_next_rung, value_of, worst_value

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=256)
def catalog_gmacs(name: str) -> float:
    """A candidate's GMACs from the catalog (0 when unknown): a rough cost before any is measured."""
    try:
        from hoot.advisor.catalog import load_catalog

        return float(getattr(load_catalog().get(name), "gmacs", 0.0) or 0.0)
    except Exception:  # noqa: BLE001 - not a catalog name (or no catalog): no estimate
        return 0.0


class StudyExecutor:
    """`executor(ctx, candidates, rung)` for run_bakeoff: queue the rung in the study, wait, collect.

    Results already in the study (a resumed coordinator) are reused, not re-run. With
    ``train_here`` (the embedded default) this process trains the queued rungs itself.
    """

    def __init__(self, bake: st.BakeoffStudy, engine: Engine, metric: Metric, train_here: bool) -> None:
        self.bake = bake
        self.engine = engine
        self.metric = metric
        self.train_here = train_here
        self.trials: dict[str, optuna.trial.Trial] = {}
        self.all_candidates: list[str] = []
        #: (candidate, rung) -> result, as the workers reported it
        self.results: dict[tuple[str, int], RungResult] = {}
        self._ctx: Any = None  # the run context of the rung being collected (train_here trains with it)

    # candidate trials (the study the dashboard shows) -------------------------------
    def _candidate_trials(self, candidates: list[str]) -> None:
        if not self.all_candidates:
            recorded = self.bake.attrs().get("candidates")
            self.all_candidates = list(recorded or candidates)
            if not recorded:
                self.bake.set_attr("candidates", self.all_candidates)
        dist = {"candidate": CategoricalDistribution(self.all_candidates)}
        existing = {t.params.get("candidate"): t for t in self.bake.candidate_trials()}
        for name, frozen in existing.items():
            # a resumed coordinator adopts the trials its predecessor left running, so that the
            # ones dropped in rungs it reuses from bakeoff.json still end PRUNED
            if name not in self.trials and frozen.state == TrialState.RUNNING:
                self.trials[name] = self.bake.running_trial(frozen.number)
        for name in candidates:
            if name in self.trials or existing.get(name) is not None:
                continue  # asked already, or finished in an earlier session
            with self.bake.timer.timed(), st.quiet():  # ask/tell on a heartbeat storage warns; on purpose
                self.bake.main.enqueue_trial({"candidate": name})
                self.trials[name] = self.bake.main.ask(dist)

    def _prune_dropped(self, candidates: list[str]) -> None:
        for name, trial in list(self.trials.items()):
            if name not in candidates:
                with self.bake.timer.timed():
                    self.bake.main.tell(trial, state=TrialState.PRUNED)
                del self.trials[name]

    # the work queue --------------------------------------------------------------
    def _queue_order(self, candidates: list[str], rung: int) -> list[str]:
        """Longest first, so that N workers finish a rung together (LPT scheduling): by the
        training time each took in the previous rung, or at rung 0 by the catalog's GMACs."""
        previous = {name: m.train_seconds for (name, r), m in self.results.items() if r == rung - 1}
        if previous and all(isinstance(previous.get(n), (int, float)) for n in candidates):
            return sorted(candidates, key=lambda n: -float(previous[n]))
        return sorted(candidates, key=lambda n: -catalog_gmacs(n))

    def _work_state(self, candidates: list[str], rung: int) -> tuple[dict[str, RungResult], list[str], dict[str, dict]]:
        """(results done, candidates still queued or running, candidates whose rung raised: their attrs)."""
        done: dict[str, RungResult] = {}
        pending: list[str] = []
        errors: dict[str, dict] = {}
        by_cand: dict[str, list] = {}
        for t in self.bake.rung_trials():
            if t.params.get("rung") == rung:
                by_cand.setdefault(t.params.get("candidate"), []).append(t)
        for name in self._queue_order(candidates, rung):
            trials = by_cand.get(name, [])
            complete = [t for t in trials if t.state == TrialState.COMPLETE]
            if complete:
                done[name] = self._result_of(complete[0], name, rung)
                continue
            if any(t.state in (TrialState.WAITING, TrialState.RUNNING) for t in trials):
                pending.append(name)
                continue
            failed = [t for t in trials if t.state == TrialState.FAIL and t.user_attrs.get("error")]
            if failed:
                errors[name] = failed[-1].user_attrs
                continue
            if not trials:
                st.add_work(self.bake, self.all_candidates, name, rung)
            # else: a dead worker's rung, failed by fail_stale; Optuna's retry callback queues its copy.
            # Adding one here too could run the rung twice.
            pending.append(name)
        return done, pending, errors

    def _result_of(self, trial: optuna.trial.FrozenTrial, name: str, rung: int) -> RungResult:
        """A finished rung trial's result: its "metrics" attribute (the flat JSON object, also as an older
        hoot wrote it), else just its value (a trial told by hand or by an engine of hoot's first format)."""
        recorded = trial.user_attrs.get("metrics") or {self.metric.name: trial.value}
        try:
            return RungResult.from_dict(recorded, candidate=name, rung=rung)
        except ValueError as exc:
            raise HootError(f"trial {trial.number} of study '{self.bake.name}' ({name} rung {rung}) holds a result "
                            f"hoot cannot read ({exc}); start a new --study") from None

    def _collect(self, candidates: list[str], rung: int) -> dict[str, RungResult]:
        """Wait until every candidate of the rung has a result (training queued rungs when train_here)."""
        last_note = 0.0
        # the coordinator only waits: a 2 s ceiling halves its idle round trips (a rung takes minutes)
        poller = st.Poller(self.bake, high_s=1.0 if self.train_here else 2.0)
        seen = 0
        while True:
            done, pending, errors = self._work_state(candidates, rung)
            if len(done) != seen:
                seen = len(done)
                poller.moved()
            for name, attrs in errors.items():
                where = attrs.get("worker", "a worker")
                if attrs.get("bad_input"):
                    raise HootError(f"candidate {name} at rung {rung} on {where}: {attrs['error']}")
                # as in-process (trainer.training.bakeoff.sequential_executor): a failed candidate costs its row
                log.warning("candidate %s failed at rung %d on %s: %s", name, rung, where, attrs["error"])
                done[name] = RungResult.failed(name, rung, attrs["error"])
            if not pending:
                return done
            if self.train_here and train_next_rung(self.bake, self.engine, self._ctx, self.metric):
                continue
            poller.fail_stale()
            if time.monotonic() - last_note > 30:
                running = sorted({t.user_attrs.get("worker", "?") for t in self.bake.rung_trials((TrialState.RUNNING,))})
                log.info("rung %d: %d/%d done; training on: %s", rung, len(done), len(candidates),
                         ", ".join(running) or "no worker yet")
                last_note = time.monotonic()
            poller.sleep()

    def __call__(self, ctx: Any, candidates: list[str], rung: int) -> dict[str, RungResult]:
        candidates = list(candidates)
        self._ctx = ctx
        self._candidate_trials(candidates)
        self._prune_dropped(candidates)
        done = self._collect(candidates, rung)
        reported = {t.number: t.intermediate_values for t in self.bake.candidate_trials()}
        for name in candidates:
            trial = self.trials.get(name)
            if trial is None or rung in reported.get(trial.number, {}):
                continue
            with self.bake.timer.timed():
                trial.report(value_of(done[name], self.metric), step=rung)
                trial.set_user_attr(f"rung_{rung}", st.json_safe(done[name].to_dict()))
        self.results.update({(name, rung): done[name] for name in candidates})
        return {name: done[name] for name in candidates}

    def finish(self, winner: str | None) -> None:
        """Complete the finalists' trials (the winner and whoever reached the last rung)."""
        frozen = {t.number: t for t in self.bake.candidate_trials()}
        for name, trial in list(self.trials.items()):
            values = frozen[trial.number].intermediate_values
            value = values[max(values)] if values else worst_value(self.metric)
            with self.bake.timer.timed():
                trial.set_user_attr("winner", name == winner)
                self.bake.main.tell(trial, value)
        self.trials.clear()
