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

Storage choices: ``None`` → a journal file (one machine, nothing to start); a URL
(``postgresql://…`` for several machines, ``sqlite:///file.db`` for one); a plain path → a
journal file. Heartbeats need an RDB storage (Optuna's journal storage has none).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

from hoot.advisor.errors import HootError

#: environment variable: seconds between heartbeats of a running rung (read when a study is created)
HEARTBEAT_ENV = "HOOT_HEARTBEAT_SECONDS"
DEFAULT_HEARTBEAT_S = 20
#: a worker is declared dead after this many missed heartbeats
GRACE_BEATS = 3
RUNGS_SUFFIX = ".rungs"
#: rung numbers a work trial may carry (Optuna needs a fixed range for the parameter)
MAX_RUNG = 64

optuna.logging.set_verbosity(optuna.logging.WARNING)
# hoot drives heartbeats with ask/tell on purpose (its own synchronous halving), not optimize()
warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")


class StorageTimer:
    """Wall time spent in storage calls, to hold coordination overhead to account."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def timed(self) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            with self._lock:
                self.seconds += time.perf_counter() - start
                self.calls += 1


#: process-wide: every storage call made through this module is counted here
STORAGE_TIME = StorageTimer()


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence Optuna's 'experimental' and 'heartbeat is meant for optimize()' warnings: hoot
    uses heartbeats with ask/tell on purpose (its own synchronous halving)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
        yield


def worker_id() -> str:
    """host:pid — who holds a rung, shown by --status."""
    return f"{socket.gethostname()}:{os.getpid()}"


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a malformed URL is shown as given
        return url


def is_rdb_url(url: str) -> bool:
    return "://" in url


def heartbeat_seconds_from_env() -> int:
    raw = os.environ.get(HEARTBEAT_ENV)
    if raw in (None, ""):
        return DEFAULT_HEARTBEAT_S
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise HootError(f"{HEARTBEAT_ENV}={raw!r} is not a whole number of seconds >= 1; unset it or fix it")
    return value


def _retry_callback() -> dict[str, Any]:
    """Optuna's 'queue a copy of a trial whose worker died' callback, under its name in this version."""
    if hasattr(optuna.storages, "RetryHeartbeatStaleTrialCallback"):
        return {"heartbeat_stale_trial_callback": optuna.storages.RetryHeartbeatStaleTrialCallback()}
    return {"failed_trial_callback": optuna.storages.RetryFailedTrialCallback()}


def open_storage(
    url: str | None,
    *,
    journal_path: Path | None = None,
    create: bool = True,
    heartbeat_s: int | None = None,
) -> optuna.storages.BaseStorage:
    """Open (and with ``create`` set up) a storage; any failure is a one-line HootError.

    Workers pass ``create=False``: the coordinator creates the schema once, because concurrent
    table creation on a fresh PostgreSQL database races.
    """
    if url is None or not is_rdb_url(url):
        path = Path(url) if url else journal_path
        if path is None:
            raise HootError("no storage given: pass --storage URL (postgresql://…, sqlite:///FILE) or a journal file")
        if not create and not path.is_file():
            raise HootError(f"journal storage '{path}' does not exist: start the coordinator first, or fix --storage")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            from optuna.storages.journal import JournalFileBackend, JournalStorage

            return JournalStorage(JournalFileBackend(str(path)))
        except OSError as exc:
            raise HootError(f"cannot open journal storage '{path}': {exc.strerror or exc}; fix --storage") from None
    import sqlalchemy.exc
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except (sqlalchemy.exc.ArgumentError, ValueError):
        raise HootError(
            f"--storage '{url}' is not a database URL: use postgresql://USER@HOST:PORT/DB or sqlite:///FILE"
        ) from None
    if parsed.get_backend_name() not in ("postgresql", "sqlite", "mysql"):
        raise HootError(f"--storage '{redact(url)}': unsupported database '{parsed.get_backend_name()}'; use postgresql or sqlite")
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        db = Path(parsed.database)
        if not create and not db.is_file():
            raise HootError(f"sqlite storage '{db}' does not exist: start the coordinator first, or fix --storage")
        db.parent.mkdir(parents=True, exist_ok=True)
    shown = redact(url)
    url = _with_installed_driver(url, parsed)
    kwargs: dict[str, Any] = {"skip_table_creation": not create}
    if parsed.get_backend_name() == "postgresql":
        kwargs["engine_kwargs"] = {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}
    try:
        with warnings.catch_warnings(), STORAGE_TIME.timed():
            warnings.simplefilter("ignore")  # heartbeat arguments are "experimental" in Optuna
            if heartbeat_s:
                kwargs.update(heartbeat_interval=heartbeat_s, grace_period=GRACE_BEATS * heartbeat_s, **_retry_callback())
            if not create and not _has_optuna_schema(url, kwargs.get("engine_kwargs", {})):
                raise HootError(f"no study in storage '{shown}' yet (no Optuna tables): start the coordinator "
                                "first, then the workers")
            storage = optuna.storages.RDBStorage(url, **kwargs)
            storage.get_all_studies()  # touch the schema: a missing table or a bad login fails here
    except ImportError:
        raise HootError(f"--storage '{shown}' needs a database driver: pip install 'hoot[postgres]' (psycopg2-binary)") from None
    except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError, RuntimeError, ValueError) as exc:
        exc = exc.__cause__ or exc if isinstance(exc, optuna.exceptions.StorageInternalError) else exc
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise HootError(f"cannot use storage '{shown}': {reason}; check the URL and that the server is running") from None
    return storage


def _has_optuna_schema(url: str, engine_kwargs: dict[str, Any]) -> bool:
    """Whether the coordinator has created Optuna's tables, asked read-only.

    Optuna's RDBStorage writes its version row and alembic stamp even when told to skip table
    creation; a worker doing that while the coordinator creates the schema on a fresh database
    can make the coordinator's CREATE fail. So a worker looks first and writes nothing.
    """
    import sqlalchemy

    engine = sqlalchemy.create_engine(url, **engine_kwargs)
    try:
        with engine.connect() as conn:
            inspector = sqlalchemy.inspect(conn)
            return all(inspector.has_table(t) for t in ("version_info", "studies", "trials", "alembic_version"))
    finally:
        engine.dispose()


def _with_installed_driver(url: str, parsed: Any) -> str:
    """postgresql:// with whichever driver is installed: SQLAlchemy 2.1 defaults to psycopg 3,
    hoot's optional dependency is psycopg2-binary."""
    if parsed.get_backend_name() != "postgresql" or "+" in parsed.drivername:
        return url
    import importlib.util

    if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2") is not None:
        return parsed.set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)
    return url


def data_fingerprint(data_dir: Path) -> str:
    """sha256 over every file's relative path and size: same images on every machine, cheap to compute.

    Sizes rather than contents: hashing a large dataset on each worker would cost minutes,
    and a copy with different images almost always differs in some file's size or name.
    """
    root = Path(data_dir)
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(".") or "/." in rel:
            continue
        digest.update(f"{rel}\0{path.stat().st_size}\n".encode())
    return digest.hexdigest()


def settings_fingerprint(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()


def rungs_name(study_name: str) -> str:
    return study_name + RUNGS_SUFFIX


@dataclass
class BakeoffStudy:
    """The two studies of one bake-off and the settings recorded with them."""

    main: optuna.Study
    rungs: optuna.Study

    @property
    def name(self) -> str:
        return self.main.study_name

    def attrs(self) -> dict[str, Any]:
        with STORAGE_TIME.timed():
            return dict(self.main.user_attrs)

    def set_attr(self, key: str, value: Any) -> None:
        with STORAGE_TIME.timed():
            self.main.set_user_attr(key, value)

    def phase(self) -> str:
        return str(self.attrs().get("phase", "bakeoff"))

    def rung_trials(self, states: tuple[TrialState, ...] | None = None) -> list[FrozenTrial]:
        with STORAGE_TIME.timed():
            return self.rungs.get_trials(deepcopy=False, states=states)

    def candidate_trials(self) -> list[FrozenTrial]:
        with STORAGE_TIME.timed():
            return self.main.get_trials(deepcopy=False)


def study_names(storage: optuna.storages.BaseStorage) -> list[str]:
    with STORAGE_TIME.timed():
        return [s.study_name for s in storage.get_all_studies()]


def create_or_load(
    storage: optuna.storages.BaseStorage, name: str, direction: str, attrs: dict[str, Any]
) -> tuple[BakeoffStudy, bool]:
    """Create the bake-off's studies with their recorded settings, or load them to resume.

    Returns (study, resumed). Attributes are written only when the studies are new.
    """
    existing = set(study_names(storage))
    if name in existing and rungs_name(name) in existing:
        return load(storage, name), True
    if name in existing or rungs_name(name) in existing:
        raise HootError(f"study '{name}' exists in this storage but was not made by hoot shortlist; pick another --study")
    with STORAGE_TIME.timed():
        rungs = optuna.create_study(storage=storage, study_name=rungs_name(name), direction=direction)
        main = optuna.create_study(storage=storage, study_name=name, direction=direction)
        for key, value in attrs.items():
            main.set_user_attr(key, value)
        main.set_user_attr("phase", "bakeoff")
    return BakeoffStudy(main, rungs), False


def load(storage: optuna.storages.BaseStorage, name: str) -> BakeoffStudy:
    """Load an existing bake-off; a missing one is a one-line error that says how to make it."""
    names = set(study_names(storage))
    if name not in names or rungs_name(name) not in names:
        known = sorted(n for n in names if not n.endswith(RUNGS_SUFFIX) and rungs_name(n) in names)
        hint = f" (bake-offs there: {', '.join(known)})" if known else ""
        raise HootError(
            f"study '{name}' does not exist in this storage{hint}: start the coordinator first "
            f"(hoot shortlist DATA --storage URL --study {name}) or fix --study"
        )
    with STORAGE_TIME.timed():
        main = optuna.load_study(study_name=name, storage=storage)
        rungs = optuna.load_study(study_name=rungs_name(name), storage=storage)
    return BakeoffStudy(main, rungs)


def work_distributions(candidates: list[str]) -> dict[str, Any]:
    return {"candidate": CategoricalDistribution(list(candidates)), "rung": IntDistribution(0, MAX_RUNG)}


def add_work(bake: BakeoffStudy, candidates: list[str], candidate: str, rung: int) -> None:
    """Queue one (candidate, rung) for whichever worker claims it first."""
    with STORAGE_TIME.timed():
        bake.rungs.add_trial(
            optuna.trial.create_trial(
                state=TrialState.WAITING,
                params={"candidate": candidate, "rung": rung},
                distributions=work_distributions(candidates),
            )
        )


def claim_work(bake: BakeoffStudy) -> optuna.trial.Trial | None:
    """Atomically take the oldest waiting rung, or None when nothing waits.

    Not ``study.ask()``: with an empty queue it would invent a new, parameterless trial.
    """
    storage = bake.rungs._storage
    for frozen in bake.rung_trials(states=(TrialState.WAITING,)):
        try:
            with STORAGE_TIME.timed():
                taken = storage.set_trial_state_values(frozen._trial_id, state=TrialState.RUNNING)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
        if taken:
            # beat at once: a trial that never beat is never declared stale, so a worker dying
            # before its heartbeat thread's first beat would leave the rung RUNNING forever
            if heartbeat_enabled(bake):
                with STORAGE_TIME.timed():
                    storage.record_heartbeat(frozen._trial_id)
            return optuna.trial.Trial(bake.rungs, frozen._trial_id)
    return None


def heartbeat_enabled(bake: BakeoffStudy) -> bool:
    from optuna.storages._heartbeat import is_heartbeat_enabled

    return is_heartbeat_enabled(bake.rungs._storage)


class Poller:
    """Waiting for work or results: short sleeps while things move, longer while idle, and the
    stale-trial check once per heartbeat interval (each look is a round trip to the database).
    The 1 s ceiling bounds how late a finished rung is noticed."""

    def __init__(self, bake: BakeoffStudy, low_s: float = 0.1, high_s: float = 1.0) -> None:
        self.bake, self.low_s, self.high_s = bake, low_s, high_s
        self.delay = low_s
        interval = bake.rungs._storage.get_heartbeat_interval() if heartbeat_enabled(bake) else None
        self.stale_every = float(interval or 0)
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
    with STORAGE_TIME.timed(), quiet():
        optuna.storages.fail_stale_trials(bake.rungs)


def requeue(bake: BakeoffStudy, trial_number: int) -> None:
    """Queue a copy of a failed rung now (a worker interrupted by Ctrl-C hands its rung back)."""
    with STORAGE_TIME.timed():
        frozen = bake.rungs.get_trials(deepcopy=False)[trial_number]
        bake.rungs.add_trial(
            optuna.trial.create_trial(
                state=TrialState.WAITING,
                params=frozen.params,
                distributions=frozen.distributions,
                system_attrs={"failed_trial": frozen.number},
            )
        )


class Heartbeat:
    """Records a running rung's heartbeat every interval on a background thread."""

    def __init__(self, bake: BakeoffStudy, trial_id: int) -> None:
        self._storage = bake.rungs._storage
        self._trial_id = trial_id
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._interval = self._storage.get_heartbeat_interval() if heartbeat_enabled(bake) else None

    def __enter__(self) -> Heartbeat:
        if self._interval:
            self._thread = threading.Thread(target=self._beat, name="hoot-heartbeat", daemon=True)
            self._thread.start()
        return self

    def _beat(self) -> None:
        while True:
            try:  # not in STORAGE_TIME: it runs beside the training, not in its way
                self._storage.record_heartbeat(self._trial_id)
            except Exception:  # noqa: BLE001 - a missed beat is retried; a dead server shows up in the main thread
                pass
            if self._stop.wait(self._interval):
                return

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
