"""`hoot shortlist --status`: one row per candidate, the progress of every rung (rows, not text:
the command line renders them)."""

from __future__ import annotations

import logging
from typing import Any

from optuna.trial import TrialState

from hoot.trainer.orchestration.scaleout import study as st
from hoot.trainer.orchestration.scaleout.options import ScaleoutOptions
from hoot.trainer.orchestration.pipeline import RunPhase

log = logging.getLogger(__name__)


def _rung_states(bake: st.BakeoffStudy, metric: str, candidates: list[str]) -> tuple[dict[str, dict[str, Any]], set[int]]:
    """Per candidate: every finished rung's metric and what is happening now; the rungs seen."""
    per: dict[str, dict[str, Any]] = {}
    rungs_seen: set[int] = set()
    for t in bake.rung_trials():
        name, rung = t.params.get("candidate"), int(t.params.get("rung", 0))
        if name not in candidates:
            candidates.append(name)
        row = per.setdefault(name, {})
        rungs_seen.add(rung)
        if t.state == TrialState.COMPLETE:
            row[f"rung{rung}_{metric}"] = t.value
        elif t.state == TrialState.RUNNING:
            row["state"] = f"training rung {rung} on {t.user_attrs.get('worker', '?')}"
        elif t.state == TrialState.WAITING and "state" not in row:
            row["state"] = f"queued rung {rung}"
        elif t.state == TrialState.FAIL and t.user_attrs.get("error"):
            row["state"] = f"failed rung {rung}: {t.user_attrs['error']}"
    return per, rungs_seen


def status_rows(bake: st.BakeoffStudy) -> list[dict[str, Any]]:
    """One row per candidate: its state and the metric of every rung, plus who is training it now."""
    attrs = bake.attrs()
    metric = str(attrs.get("metric", "value"))
    candidates: list[str] = list(attrs.get("candidates") or [])
    per, rungs_seen = _rung_states(bake, metric, candidates)
    by_candidate = {t.params.get("candidate"): t for t in bake.candidate_trials()}
    rows = []
    for name in candidates:
        row = per.get(name, {})
        trial = by_candidate.get(name)
        state = row.get("state")
        if state is None:
            if attrs.get("winner") == name:
                state = "winner"
            elif trial is not None and trial.state == TrialState.PRUNED:
                state = "dropped"
            elif trial is not None and trial.state == TrialState.COMPLETE:
                state = "finalist"
            else:
                state = "waiting for promotion"
        out = {"candidate": name, "state": state}
        for rung in sorted(rungs_seen):
            out[f"rung{rung}_{metric}"] = row.get(f"rung{rung}_{metric}")
        rows.append(out)
    return rows


def run_status(opts: ScaleoutOptions) -> list[dict[str, Any]]:
    """The rows of study --study in --storage; a one-line summary of the run goes to the log."""
    assert opts.storage and opts.study
    bake = st.load(st.open_storage(opts.storage, create=False), opts.study)
    attrs = bake.attrs()
    running = bake.rung_trials((TrialState.RUNNING,))
    log.info("study '%s': phase %s, winner %s, %d rung(s) training", opts.study, RunPhase.of(attrs.get("phase")).value,
             attrs.get("winner") or "-", len(running))
    return status_rows(bake)
