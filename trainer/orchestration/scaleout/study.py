"""Optuna plumbing for a bake-off shared by several processes or machines.

A bake-off lives in two Optuna studies on one storage:

* ``NAME`` — one trial per candidate. The coordinator asks for them, reports each rung's
  validation metric with ``trial.report(value, step=rung)``, prunes the candidates hoot's
  synchronous halving drops and completes the finalists. This is what optuna-dashboard shows.
* ``NAME.rungs`` — the work queue: one trial per (candidate, rung). The coordinator adds them
  as WAITING; a worker claims one atomically (WAITING → RUNNING is a row-locked update in the
  RDB storage), records heartbeats while it trains, and tells the result. A worker that dies
  stops beating; whoever notices (``fail_stale_trials``) fails the trial and Optuna's retry
  callback queues a copy for another worker.

Why a work queue beside the candidate trials: Optuna's asynchronous pruners decide on whoever
reports first, so with four candidates the ranking would depend on arrival order; hoot keeps
its own synchronous rule (every candidate of a rung finishes before anyone is promoted) and
uses Optuna for what it is good at: storage, atomic hand-out, heartbeats, retries, dashboard.

Storage choices (``check_storage_form``): ``None`` → a journal file in the run folder (one
machine, nothing to start); a URL (``postgresql://…`` for several machines,
``sqlite:///file.db`` for one); a path ending in ``.journal`` or ``.log`` → a journal file
(Optuna's JournalStorage, several processes on one machine). Anything else is refused before
a file is made. Heartbeats need an RDB storage (Optuna's journal storage has none).

Optuna through its public API: a worker claims a rung with ``study.optimize(n_trials=1)``,
which pops the oldest WAITING trial atomically and runs Optuna's own heartbeat thread while
the rung trains; ``fail_stale_trials`` and the storage's retry callback re-queue a dead
worker's rung. Nothing here changes Optuna's logging or warning filters at import:
``optuna_quiet`` does it for the length of a run, ``quiet`` around the calls that warn.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

from hoot.advisor.errors import HootError
from hoot.advisor.metric import Metric
from hoot.trainer.orchestration.scaleout.optuna_storage import (  # noqa: F401 - re-exported: the study's storage API
    DEFAULT_HEARTBEAT_S,
    HEARTBEAT_ENV,
    STORAGE_FORMS,
    check_storage_form,
    heartbeat_seconds_from_env,
    is_rdb_url,
    open_storage,
    quiet,
    redact,
    with_installed_driver,
)

RUNGS_SUFFIX = ".rungs"
#: rung numbers a work trial may carry (Optuna needs a fixed range for the parameter)
MAX_RUNG = 64
#: user attribute of a trial `run_next_rung` asked for when another process took the last queued rung
EMPTY_CLAIM = "empty_claim"
class StorageTimer:
    """Wall time spent in one bake-off's storage calls, to hold coordination overhead to account."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0
        self._lock = threading.Lock()

    def add(self, seconds: float, calls: int = 1) -> None:
        with self._lock:
            self.seconds += seconds
            self.calls += calls

    @contextlib.contextmanager
    def timed(self) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            with self._lock:
                self.seconds += time.perf_counter() - start
                self.calls += 1


@contextlib.contextmanager
def optuna_quiet() -> Iterator[None]:
    """For the length of a run: Optuna logs warnings and errors only (hoot logs each rung
    itself), and Optuna's verbosity is restored afterwards."""
    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(before)


def worker_id() -> str:
    """host:pid — who holds a rung, shown by --status."""
    return f"{socket.gethostname()}:{os.getpid()}"


def data_fingerprint(data_dir: Path, annotations: Path | None = None) -> str:
    """sha256 over every file's relative path and size: same images on every machine, cheap to compute.

    Sizes rather than contents: hashing a large dataset on each worker would cost minutes,
    and a copy with different images almost always differs in some file's size or name.
    An `--annotations` file outside the folder counts by its size (its path is each machine's own).
    """
    root = Path(data_dir)
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(".") or "/." in rel:
            continue
        digest.update(f"{rel}\0{path.stat().st_size}\n".encode())
    if annotations is not None and Path(annotations).is_file():
        digest.update(f"--annotations\0{Path(annotations).stat().st_size}\n".encode())
    return digest.hexdigest()


def settings_fingerprint(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()


def json_safe(value: Any) -> Any:
    """JSON-safe copy of a metrics dict for study attributes (numpy/torch scalars → float, NaN → None)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (str, bool, int)) or value is None:
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return number if math.isfinite(number) else None


def rungs_name(study_name: str) -> str:
    return study_name + RUNGS_SUFFIX


@dataclass
class BakeoffStudy:
    """The two studies of one bake-off, the storage they live in, and the time spent talking to it.

    ``heartbeat_s`` is the heartbeat the storage was opened with (None: no heartbeat, e.g. a journal).
    """

    main: optuna.Study
    rungs: optuna.Study
    storage: optuna.storages.BaseStorage
    heartbeat_s: int | None = None
    timer: StorageTimer = field(default_factory=StorageTimer)

    @property
    def name(self) -> str:
        return self.main.study_name

    def attrs(self) -> dict[str, Any]:
        with self.timer.timed():
            return dict(self.main.user_attrs)

    def set_attr(self, key: str, value: Any) -> None:
        with self.timer.timed():
            self.main.set_user_attr(key, value)

    def rung_trials(self, states: tuple[TrialState, ...] | None = None) -> list[FrozenTrial]:
        """The work queue's (candidate, rung) trials; a trial a lost race left empty is not one."""
        with self.timer.timed():
            trials = self.rungs.get_trials(deepcopy=False, states=states)
        return [t for t in trials if "candidate" in t.params]

    def candidate_trials(self) -> list[FrozenTrial]:
        with self.timer.timed():
            return self.main.get_trials(deepcopy=False)

    def running_trial(self, number: int) -> optuna.trial.Trial:
        """A handle on candidate trial `number`, which an earlier coordinator asked for and left RUNNING.

        Optuna has no public "trial by number" for ask/tell; the trial id comes from the storage's
        public lookups (study id by name, trial id by number) and `Trial`'s constructor is public.
        """
        with self.timer.timed():
            trial_id = self._trial_id(self.main, number)
        return optuna.trial.Trial(self.main, trial_id)

    def _trial_id(self, study: optuna.Study, number: int) -> int:
        """The storage's id of trial `number` of `study`, through its public lookups."""
        study_id = self.storage.get_study_id_from_name(study.study_name)
        return self.storage.get_trial_id_from_study_id_trial_number(study_id, number)

    def beat_now(self, rung_number: int) -> None:
        """Record a claimed rung's first heartbeat before its work starts, in this thread.

        Why: Optuna's heartbeat thread beats first only once it is scheduled, and
        `fail_stale_trials` skips a RUNNING trial that has no heartbeat at all, so a worker killed
        in that window (seen under load in CI) left its rung RUNNING for ever and the bake-off
        waiting. Public storage API only: id lookups, then `record_heartbeat`."""
        if not self.heartbeat_s:
            return
        with self.timer.timed():
            self.storage.record_heartbeat(self._trial_id(self.rungs, rung_number))  # type: ignore[attr-defined] - a heartbeat storage


def study_names(storage: optuna.storages.BaseStorage) -> list[str]:
    return [s.study_name for s in storage.get_all_studies()]


def create_or_load(
    storage: optuna.storages.BaseStorage, name: str, metric: Metric, attrs: dict[str, Any],
    heartbeat_s: int | None = None,
) -> tuple[BakeoffStudy, bool]:
    """Create the bake-off's studies (in the metric's direction) with their recorded settings,
    or load them to resume. Returns (study, resumed). Attributes are written only when new."""
    existing = set(study_names(storage))
    if name in existing and rungs_name(name) in existing:
        return load(storage, name, heartbeat_s=heartbeat_s), True
    if name in existing or rungs_name(name) in existing:
        raise HootError(f"study '{name}' exists in this storage but was not made by hoot shortlist; pick another --study")
    bake_timer = StorageTimer()
    with bake_timer.timed():
        rungs = optuna.create_study(storage=storage, study_name=rungs_name(name), direction=metric.direction)
        main = optuna.create_study(storage=storage, study_name=name, direction=metric.direction)
        for key, value in attrs.items():
            main.set_user_attr(key, value)
    return BakeoffStudy(main, rungs, storage, heartbeat_s, bake_timer), False


def load(storage: optuna.storages.BaseStorage, name: str, *, heartbeat_s: int | None = None) -> BakeoffStudy:
    """Load an existing bake-off; a missing one is a one-line error that says how to make it."""
    names = set(study_names(storage))
    if name not in names or rungs_name(name) not in names:
        known = sorted(n for n in names if not n.endswith(RUNGS_SUFFIX) and rungs_name(n) in names)
        hint = f" (bake-offs there: {', '.join(known)})" if known else ""
        raise HootError(
            f"study '{name}' does not exist in this storage{hint}: start the coordinator first "
            f"(hoot shortlist DATA --storage URL --study {name}) or fix --study"
        )
    bake_timer = StorageTimer()
    with bake_timer.timed():
        main = optuna.load_study(study_name=name, storage=storage)
        rungs = optuna.load_study(study_name=rungs_name(name), storage=storage)
    return BakeoffStudy(main, rungs, storage, heartbeat_s, bake_timer)


def work_distributions(candidates: list[str]) -> dict[str, Any]:
    return {"candidate": CategoricalDistribution(list(candidates)), "rung": IntDistribution(0, MAX_RUNG)}


def add_work(bake: BakeoffStudy, candidates: list[str], candidate: str, rung: int) -> None:
    """Queue one (candidate, rung) for whichever worker claims it first."""
    with bake.timer.timed():
        bake.rungs.add_trial(
            optuna.trial.create_trial(
                state=TrialState.WAITING,
                params={"candidate": candidate, "rung": rung},
                distributions=work_distributions(candidates),
            )
        )


def run_next_rung(bake: BakeoffStudy, objective: Callable[[optuna.trial.Trial], float]) -> bool:
    """Claim the oldest queued rung and run `objective` on it; False when nothing waits.

    ``study.optimize(n_trials=1)`` pops the oldest WAITING trial atomically (WAITING → RUNNING
    is a row-locked update in the RDB storage), runs Optuna's heartbeat thread while the
    objective trains, fails stale trials first, and tells the result: FAIL when the objective
    raises (the exception is kept, not raised, except KeyboardInterrupt). When two processes
    race for the last queued rung, the loser's ask makes a fresh trial without parameters: it
    is pruned at once, marked ``empty_claim``, and `BakeoffStudy.rung_trials` leaves it out.
    """
    if not bake.rung_trials(states=(TrialState.WAITING,)):
        return False
    claimed = []
    inside = [0.0]  # the objective's own time: the rest of optimize() is storage work (claim, tell, stale check)

    def run(trial: optuna.trial.Trial) -> float:
        if "candidate" not in trial.params:
            trial.set_user_attr(EMPTY_CLAIM, True)
            raise optuna.TrialPruned("another process took the last queued rung")
        bake.beat_now(trial.number)
        claimed.append(trial.number)
        start = time.perf_counter()
        try:
            return objective(trial)
        finally:
            inside[0] = time.perf_counter() - start

    started = time.perf_counter()
    try:
        # no warning filter here: inside optimize() Optuna silences its own stale-check warning, and
        # a filter held for a whole rung would race with other threads' catch_warnings blocks
        bake.rungs.optimize(run, n_trials=1, catch=(Exception,), gc_after_trial=False)
    finally:
        bake.timer.add(time.perf_counter() - started - inside[0])
    return bool(claimed)


class Poller:
    """Waiting for work or results: short sleeps while things move, longer while idle, and the
    stale-trial check once per heartbeat interval (each look is a round trip to the database).
    The ceiling (1 s by default) bounds how late a finished rung is noticed."""

    def __init__(self, bake: BakeoffStudy, low_s: float = 0.1, high_s: float = 1.0) -> None:
        self.bake, self.low_s, self.high_s = bake, low_s, high_s
        self.delay = low_s
        self.stale_every = float(bake.heartbeat_s or 0)
        self._last_stale = -1e9

    def fail_stale(self) -> None:
        if self.stale_every and time.monotonic() - self._last_stale >= self.stale_every:
            self._last_stale = time.monotonic()
            fail_stale(self.bake)

    def moved(self) -> None:
        self.delay = self.low_s

    def sleep(self) -> None:
        time.sleep(self.delay)
        self.delay = min(self.high_s, self.delay * 1.5)


def fail_stale(bake: BakeoffStudy) -> None:
    """Fail rungs whose worker stopped beating; Optuna's retry callback queues each again."""
    with bake.timer.timed(), quiet():
        optuna.storages.fail_stale_trials(bake.rungs)


def requeue(bake: BakeoffStudy, trial_number: int) -> None:
    """Queue a copy of a failed rung now (a worker interrupted by Ctrl-C hands its rung back)."""
    with bake.timer.timed():
        frozen = bake.rungs.get_trials(deepcopy=False)[trial_number]
        bake.rungs.add_trial(
            optuna.trial.create_trial(
                state=TrialState.WAITING,
                params=frozen.params,
                distributions=frozen.distributions,
                system_attrs={"failed_trial": frozen.number},
            )
        )


#: the storage API is re-exported here, so callers need one module: the study's
__all__ = [
    "DEFAULT_HEARTBEAT_S", "HEARTBEAT_ENV", "RUNGS_SUFFIX", "STORAGE_FORMS", "BakeoffStudy", "Poller", "StorageTimer",
    "add_work", "check_storage_form", "create_or_load", "data_fingerprint", "fail_stale", "heartbeat_seconds_from_env",
    "is_rdb_url", "json_safe", "load", "open_storage", "optuna_quiet", "quiet", "redact", "requeue", "run_next_rung",
    "rungs_name", "settings_fingerprint", "study_names", "with_installed_driver", "worker_id",
]
