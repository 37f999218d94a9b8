"""Opening the Optuna storage a bake-off is shared through, each failure one line naming --storage.

Below hoot.trainer.orchestration.scaleout.study: which storages hoot accepts (`check_storage_form`), how a worker
opens one without touching the schema, and Optuna's heartbeat and retry settings.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna

from hoot.advisor.errors import HootError

#: environment variable: seconds between heartbeats of a running rung (read when a study is created)
HEARTBEAT_ENV = "HOOT_HEARTBEAT_SECONDS"
DEFAULT_HEARTBEAT_S = 20
#: a worker is declared dead after this many missed heartbeats
GRACE_BEATS = 3
#: file endings that name a journal-file storage (anything else without '://' is refused)
JOURNAL_SUFFIXES = (".journal", ".log")
#: database back-ends hoot can share a study through
RDB_BACKENDS = ("postgresql", "sqlite", "mysql")
STORAGE_FORMS = "sqlite:///PATH.db, postgresql://USER@HOST:PORT/DB, or a journal file PATH ending in .journal or .log"
#: Optuna's warning when a heartbeat storage is used with ask/tell (hoot's candidate trials)
ASK_HEARTBEAT_WARNING = "Heartbeat of storage is supposed to be used with Study.optimize"



@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """At a call only: silence Optuna's 'experimental' warning and its 'heartbeat is meant for
    optimize()' warning, which hoot's candidate trials (ask/tell on a heartbeat storage) raise on purpose."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message=ASK_HEARTBEAT_WARNING)
        yield


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a malformed URL is shown as given
        return url


def is_rdb_url(url: str) -> bool:
    return "://" in url


def check_storage_form(url: str) -> None:
    """Refuse a --storage that is neither a database URL nor a journal file path, before any file
    is made (a bare word would otherwise become a journal file in the working directory)."""
    if is_rdb_url(url):
        return
    if not url.strip() or Path(url).suffix.lower() not in JOURNAL_SUFFIXES:
        raise HootError(f"--storage '{url}' is not a storage: use {STORAGE_FORMS}")
    if Path(url).is_dir():
        raise HootError(f"--storage '{url}' is a folder: name a journal file in it, e.g. {Path(url) / 'study.journal'}")


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


@contextlib.contextmanager
def loggers_kept() -> Iterator[None]:
    """Optuna's schema migration runs alembic's env.py, whose `logging.config.fileConfig` disables
    every logger that exists (when the root logger has no handler, as under the `hoot` CLI): hoot's
    progress lines would vanish for the rest of the run. Restore each other logger's `disabled`
    flag, and leave hoot's own loggers enabled (hoot never disables them on purpose)."""
    before = {name: lg.disabled for name, lg in logging.root.manager.loggerDict.items()
              if isinstance(lg, logging.Logger)}
    try:
        yield
    finally:
        for name, disabled in before.items():
            logger = logging.root.manager.loggerDict.get(name)
            if isinstance(logger, logging.Logger):
                logger.disabled = False if name == "hoot" or name.startswith("hoot.") else disabled


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
        if url:
            check_storage_form(url)
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
            f"--storage '{url}' is not a database URL: use {STORAGE_FORMS}"
        ) from None
    if parsed.get_backend_name() not in RDB_BACKENDS:
        raise HootError(f"--storage '{redact(url)}': unsupported database '{parsed.get_backend_name()}'; use postgresql or sqlite")
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        db = Path(parsed.database)
        if not create and not db.is_file():
            raise HootError(f"sqlite storage '{db}' does not exist: start the coordinator first, or fix --storage")
        db.parent.mkdir(parents=True, exist_ok=True)
    shown = redact(url)
    url = with_installed_driver(url, parsed)
    kwargs: dict[str, Any] = {"skip_table_creation": not create}
    if parsed.get_backend_name() == "postgresql":
        kwargs["engine_kwargs"] = {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}
    try:
        with quiet(), loggers_kept():  # heartbeat arguments are "experimental" in Optuna
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


def with_installed_driver(url: str, parsed: Any) -> str:
    """postgresql:// with whichever driver is installed: SQLAlchemy 2.1 defaults to psycopg 3,
    hoot's optional dependency is psycopg2-binary."""
    if parsed.get_backend_name() != "postgresql" or "+" in parsed.drivername:
        return url
    import importlib.util

    if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2") is not None:
        return parsed.set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)
    return url
