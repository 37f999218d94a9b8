"""`hoot shortlist` beyond one process: the bake-off as an Optuna study, the fine-tune on torchrun.

Three roles, one entry point (`run_shortlist`), chosen by the scale-out options:

* coordinator (default): creates the study once (before any worker touches the database),
  runs hoot's own synchronous successive halving (`trainer.bakeoff.run_bakeoff`) with an
  executor that queues each rung's candidates in the study and waits for their results,
  reports every rung on the candidate's trial, then fine-tunes the winner — with DDP through
  torchrun when `--nproc`/`--nnodes` ask for more than one process.
  Without `--storage` the study is a journal file in the run folder and the coordinator
  trains the rungs itself: nothing to start.
* `--worker`: claims queued rungs, trains them (`train_rung`), tells the result; beats a
  heartbeat while training so a worker that dies is noticed and its rung re-run by another;
  exits when the bake-off is over (and joins the fine-tune when `--nnodes` > 1).
* `--status`: one row per candidate, progress of every rung.

The halving is synchronous on purpose: every candidate of a rung finishes before anyone is
promoted, so the winner does not depend on which worker was fastest (see trainer/study.py).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import json
import math
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

from hoot.advisor.errors import HootError
from hoot.trainer import study as st

#: settings that may differ between machines without changing the bake-off's result
LOCAL_SETTINGS = ("data_dir", "output", "run_id", "device", "num_threads", "auto_batch")
#: seconds between looks at the study while waiting for the winner (multi-node fine-tune)
POLL_S = 1.0


def log(message: str) -> None:
    print(f"hoot: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- options


@dataclass
class ScaleoutOptions:
    """The scale-out flags of `hoot shortlist`, checked once, each error naming the flag."""

    storage: str | None = None
    study: str | None = None
    worker: bool = False
    status: bool = False
    nproc: int = 1
    nnodes: int = 1
    rdzv_endpoint: str | None = None
    sync_bn: bool = False
    format: str = "table"

    @classmethod
    def from_dict(cls, options: dict[str, Any] | None) -> ScaleoutOptions:
        known = {f.name for f in dataclasses.fields(cls)}
        clean = {k.replace("-", "_"): v for k, v in (options or {}).items() if v is not None}
        unknown = sorted(set(clean) - known)
        if unknown:
            raise HootError(f"unknown scale-out option '{unknown[0]}'")
        opts = cls(**clean)
        opts.validate()
        return opts

    @property
    def world_size(self) -> int:
        return self.nproc * self.nnodes

    def validate(self) -> None:
        if self.worker and self.status:
            raise HootError("--worker and --status exclude each other: run one or the other")
        if (self.worker or self.status) and not self.storage:
            flag = "--worker" if self.worker else "--status"
            raise HootError(f"{flag} needs the coordinator's --storage URL and --study NAME")
        if (self.worker or self.status) and not self.study:
            flag = "--worker" if self.worker else "--status"
            raise HootError(f"{flag} needs --study NAME (the name the coordinator printed)")
        if self.study is not None and not re.fullmatch(r"[A-Za-z0-9_.:-]{1,100}", self.study):
            raise HootError(f"--study '{self.study}' must be 1-100 letters, digits, '_', '-', '.' or ':'")
        if self.study is not None and self.study.endswith(st.RUNGS_SUFFIX):
            raise HootError(f"--study '{self.study}' names hoot's work queue; pass the bake-off's name without '{st.RUNGS_SUFFIX}'")
        if self.nproc < 1:
            raise HootError(f"--nproc {self.nproc} must be at least 1 (processes per machine for the fine-tune)")
        if self.nnodes < 1:
            raise HootError(f"--nnodes {self.nnodes} must be at least 1 (machines for the fine-tune)")
        if self.nnodes > 1 and not self.rdzv_endpoint:
            raise HootError("--nnodes > 1 needs --rdzv-endpoint HOST:PORT (a port on the first machine every machine can reach)")
        if self.rdzv_endpoint and not re.fullmatch(r"[^\s:]+:\d{1,5}", self.rdzv_endpoint):
            raise HootError(f"--rdzv-endpoint '{self.rdzv_endpoint}' must be HOST:PORT, e.g. node0:29500")
        if self.nnodes > 1 and not self.storage:
            raise HootError("--nnodes > 1 needs --storage URL: the other machines learn the winner from the study")


# --------------------------------------------------------------------------- engine


@dataclass
class Engine:
    """The bake-off and fine-tune functions the scale-out drives (trainer.bakeoff/finetune by default).

    A seam, not a plug-in system: tests run the same coordination against a toy engine in
    milliseconds before the real one trains models.
    """

    prepare: Callable[..., Any]
    train_rung: Callable[..., dict]
    run_bakeoff: Callable[..., Any]
    finetune: Callable[..., dict]
    metric: Callable[[Any], str]
    report: Callable[[Path], Any] | None = None
    name: str = "trainer"


def _engine(name: str, bakeoff: Any, finetune: Any, report: Callable | None) -> Engine:
    """An Engine from the modules that hold prepare/train_rung/run_bakeoff and finetune."""
    return Engine(
        prepare=bakeoff.prepare,
        train_rung=bakeoff.train_rung,
        run_bakeoff=bakeoff.run_bakeoff,
        finetune=finetune.finetune,
        metric=_metric_of_ctx,
        report=report,
        name=name,
    )


def default_engine() -> Engine:
    return _engine("trainer", importlib.import_module("hoot.trainer.bakeoff"), importlib.import_module("hoot.trainer.finetune"),
                   importlib.import_module("hoot.trainer.report").write_report)


def load_engine(spec: str | None) -> Engine:
    """'module' naming an engine module with the five functions; None → hoot's own trainer."""
    if not spec or spec == "trainer":
        return default_engine()
    module = importlib.import_module(spec)
    return _engine(spec, module, module, getattr(module, "write_report", None))


def _metric_of_ctx(ctx: Any) -> str:
    metric = getattr(ctx, "metric", None)
    if metric:
        return str(metric)
    from hoot.trainer.metrics import primary_metric

    task = getattr(ctx, "task", None) or getattr(getattr(ctx, "config", None), "task", "classification")
    return primary_metric(task)


@functools.lru_cache(maxsize=256)
def _catalog_gmacs(name: str) -> float:
    """A candidate's GMACs from the catalog (0 when unknown): a rough cost before any is measured."""
    try:
        from hoot.advisor.catalog import load_catalog

        return float(getattr(load_catalog().get(name), "gmacs", 0.0) or 0.0)
    except Exception:  # noqa: BLE001 - not a catalog name (or no catalog): no estimate
        return 0.0


def direction_of(metric: str) -> str:
    return "minimize" if "loss" in metric or metric.endswith("_ms") else "maximize"


def worst_value(direction: str) -> float:
    return math.inf if direction == "minimize" else -math.inf


# --------------------------------------------------------------------------- fingerprints


def settings_of(config: Any) -> dict[str, Any]:
    """The settings every machine must share: the config without its machine-local fields."""
    return {k: v for k, v in config.to_dict().items() if k not in LOCAL_SETTINGS}


def fingerprint_of(config: Any) -> dict[str, str]:
    data_dir = Path(config.data_dir)
    if not data_dir.is_dir():
        raise HootError(f"data folder '{data_dir}' does not exist; pass the folder of class sub-folders")
    return {"data": st.data_fingerprint(data_dir), "settings": st.settings_fingerprint(settings_of(config))}


def check_same_run(bake: st.BakeoffStudy, config: Any) -> None:
    """A worker or a resumed coordinator must use the study's data and settings: else one-line error."""
    attrs = bake.attrs()
    recorded = attrs.get("fingerprint") or {}
    mine = fingerprint_of(config)
    if recorded.get("data") != mine["data"]:
        raise HootError(
            f"the images in '{config.data_dir}' differ from the data study '{bake.name}' was made with "
            "(file names or sizes); give every machine the same copy of the dataset"
        )
    if recorded.get("settings") != mine["settings"]:
        theirs = attrs.get("settings") or {}
        ours = settings_of(config)
        diff = [k for k in sorted(set(theirs) | set(ours)) if theirs.get(k) != ours.get(k)]
        shown = ", ".join(f"{k}={ours.get(k)!r} here but {theirs.get(k)!r} in the study" for k in diff[:3])
        raise HootError(
            f"settings differ from study '{bake.name}': {shown or 'unknown fields'}; "
            "start every process with the coordinator's shortlist options"
        )


# --------------------------------------------------------------------------- the executor


def _clean(value: Any) -> Any:
    """JSON-safe copy of a metrics dict (numpy/torch scalars → float, NaN → None)."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (str, bool)) or value is None:
        return value
    if isinstance(value, int):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return number if math.isfinite(number) else None


def _value(metrics: dict, metric: str, direction: str) -> float:
    raw = metrics.get(metric)
    try:
        number = float(raw)
    except (TypeError, ValueError):
        return worst_value(direction)
    return number if math.isfinite(number) else worst_value(direction)


class StudyExecutor:
    """`executor(ctx, candidates, rung)` for run_bakeoff: queue the rung in the study, wait, collect.

    Results already in the study (a resumed coordinator) are reused, not re-run. With
    ``train_here`` (the embedded default) this process trains the queued rungs itself.
    """

    def __init__(self, bake: st.BakeoffStudy, engine: Engine, metric: str, train_here: bool) -> None:
        self.bake = bake
        self.engine = engine
        self.metric = metric
        self.direction = direction_of(metric)
        self.train_here = train_here
        self.trials: dict[str, optuna.trial.Trial] = {}
        self.all_candidates: list[str] = []
        #: (candidate, rung) -> metrics, as the workers reported them
        self.results: dict[tuple[str, int], dict] = {}

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
                self.trials[name] = optuna.trial.Trial(self.bake.main, frozen._trial_id)
        for name in candidates:
            if name in self.trials:
                continue
            if existing.get(name) is not None:
                continue  # finished in an earlier session
            with st.STORAGE_TIME.timed(), st.quiet():
                self.bake.main.enqueue_trial({"candidate": name})
                self.trials[name] = self.bake.main.ask(dist)

    def _prune_dropped(self, candidates: list[str], rung: int) -> None:
        for name, trial in list(self.trials.items()):
            if name not in candidates:
                with st.STORAGE_TIME.timed():
                    self.bake.main.tell(trial, state=TrialState.PRUNED)
                del self.trials[name]

    # the work queue --------------------------------------------------------------
    def _queue_order(self, candidates: list[str], rung: int) -> list[str]:
        """Longest first, so that N workers finish a rung together (LPT scheduling): by the
        training time each took in the previous rung, or at rung 0 by the catalog's GMACs."""
        previous = {name: m.get("train_seconds") for (name, r), m in self.results.items() if r == rung - 1}
        if previous and all(isinstance(previous.get(n), (int, float)) for n in candidates):
            return sorted(candidates, key=lambda n: -float(previous[n]))
        return sorted(candidates, key=lambda n: -_catalog_gmacs(n))

    def _work_state(self, candidates: list[str], rung: int) -> tuple[dict[str, dict], list[str], dict[str, dict]]:
        """(results done, candidates still queued or running, candidates whose rung raised: their attrs)."""
        done: dict[str, dict] = {}
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
                done[name] = complete[0].user_attrs.get("metrics") or {self.metric: complete[0].value}
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

    def __call__(self, ctx: Any, candidates: list[str], rung: int) -> dict[str, dict]:
        candidates = list(candidates)
        self._candidate_trials(candidates)
        self._prune_dropped(candidates, rung)
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
                # as in-process (trainer.bakeoff.sequential_executor): a failed candidate costs its row
                log(f"candidate {name} failed at rung {rung} on {where}: {attrs['error']}")
                done[name] = {"candidate": name, "rung": rung, "status": "error", "error": attrs["error"]}
            if not pending:
                break
            if self.train_here:
                trial = st.claim_work(self.bake)
                if trial is not None:
                    run_claimed(self.bake, self.engine, ctx, trial, self.metric)
                    continue
            poller.fail_stale()
            if time.monotonic() - last_note > 30:
                running = sorted({t.user_attrs.get("worker", "?") for t in self.bake.rung_trials((TrialState.RUNNING,))})
                log(f"rung {rung}: {len(done)}/{len(candidates)} done; training on: {', '.join(running) or 'no worker yet'}")
                last_note = time.monotonic()
            poller.sleep()
        reported = {t.number: t.intermediate_values for t in self.bake.candidate_trials()}
        for name in candidates:
            trial = self.trials.get(name)
            if trial is None or rung in reported.get(trial.number, {}):
                continue
            with st.STORAGE_TIME.timed():
                trial.report(_value(done[name], self.metric, self.direction), step=rung)
                trial.set_user_attr(f"rung_{rung}", _clean(done[name]))
        self.results.update({(name, rung): done[name] for name in candidates})
        return {name: done[name] for name in candidates}

    def finish(self, winner: str | None) -> None:
        """Complete the finalists' trials (the winner and whoever reached the last rung)."""
        for name, trial in list(self.trials.items()):
            frozen = self.bake.main.get_trials(deepcopy=False)[trial.number]
            values = frozen.intermediate_values
            value = values[max(values)] if values else worst_value(self.direction)
            with st.STORAGE_TIME.timed():
                trial.set_user_attr("winner", name == winner)
                self.bake.main.tell(trial, value)
        self.trials.clear()


# --------------------------------------------------------------------------- one rung


def run_claimed(bake: st.BakeoffStudy, engine: Engine, ctx: Any, trial: optuna.trial.Trial, metric: str) -> None:
    """Train one claimed (candidate, rung) with a heartbeat and tell the study how it went."""
    frozen = bake.rungs.get_trials(deepcopy=False)[trial.number]
    candidate, rung = frozen.params["candidate"], int(frozen.params["rung"])
    direction = direction_of(metric)
    with st.STORAGE_TIME.timed():
        trial.set_user_attr("worker", st.worker_id())
    log(f"training {candidate} rung {rung} (trial {trial.number}) on {st.worker_id()}")
    start = time.perf_counter()
    try:
        with st.Heartbeat(bake, trial._trial_id):
            metrics = engine.train_rung(ctx, candidate, rung)
    except KeyboardInterrupt:
        with st.STORAGE_TIME.timed():
            trial.set_user_attr("error_interrupted", True)
            bake.rungs.tell(trial, state=TrialState.FAIL)
        st.requeue(bake, trial.number)
        log(f"interrupted: {candidate} rung {rung} handed back to the queue")
        raise
    except Exception as exc:  # noqa: BLE001 - recorded in the study, the coordinator decides
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        with st.STORAGE_TIME.timed():
            trial.set_user_attr("error", (message if isinstance(exc, HootError) else f"{type(exc).__name__}: {message}")[:500])
            trial.set_user_attr("bad_input", isinstance(exc, HootError))
            bake.rungs.tell(trial, state=TrialState.FAIL)
        log(f"{candidate} rung {rung} failed: {type(exc).__name__}: {message}")
        return
    seconds = time.perf_counter() - start
    with st.STORAGE_TIME.timed():
        trial.set_user_attr("metrics", _clean(metrics))
        trial.set_user_attr("train_s", round(seconds, 3))
        bake.rungs.tell(trial, _value(metrics, metric, direction))
    log(f"done {candidate} rung {rung}: {metric}={metrics.get(metric)} in {seconds:.1f}s")


# --------------------------------------------------------------------------- roles


def _resolve_name(opts: ScaleoutOptions, fingerprint: dict[str, str]) -> str:
    """--study, or a name derived from data+settings so that re-running the command resumes."""
    return opts.study or f"hoot-{fingerprint['data'][:6]}{fingerprint['settings'][:6]}"


def _winner_of(result: Any) -> str:
    if isinstance(result, str):
        return result
    if isinstance(result, dict):
        return str(result["winner"])
    return str(getattr(result, "winner"))


def run_coordinator(config: Any, opts: ScaleoutOptions, engine: Engine) -> dict[str, Any]:
    """Create or resume the study, drive the halving, fine-tune the winner: run_local's steps, scaled out."""
    fingerprint = fingerprint_of(config)
    name = _resolve_name(opts, fingerprint)
    heartbeat_s = st.heartbeat_seconds_from_env()
    # the schema and the study are created here, once, before prepare's decoding: workers can join at once
    storage = (st.open_storage(opts.storage, create=True, heartbeat_s=heartbeat_s) if opts.storage
               else st.open_storage(None, journal_path=Path(config.run_dir) / "study.journal", create=True))
    attrs_new = {"fingerprint": fingerprint, "settings": settings_of(config), "config": config.to_dict(),
                 "heartbeat_s": heartbeat_s, "engine": engine.name, "run_dir": str(Path(config.run_dir).resolve())}
    if opts.storage and name in st.study_names(storage):
        check_same_run(st.load(storage, name), config)  # before anything is written
    bake, resumed = st.create_or_load(storage, name, "maximize", attrs_new)
    if resumed:
        check_same_run(bake, config)
        log(f"resuming study '{name}' ({bake.phase()})")
        if bake.phase() == "failed":
            bake.set_attr("phase", "bakeoff")
    else:
        where = f"'{st.redact(opts.storage)}'" if opts.storage else "a journal file in the run folder"
        log(f"study '{name}' created in {where}")
    if opts.storage:
        log(f"start workers with the same options plus: --storage '{st.redact(opts.storage)}' --study {name} --worker")
    recorded = bake.attrs()
    if resumed and recorded.get("phase") == "done":
        log(f"study '{name}' is finished: winner {recorded.get('winner')}")
        return {"study": name, "winner": recorded.get("winner"), "table": recorded.get("table") or [],
                "finetune": recorded.get("finetune")}
    try:
        return _coordinate(config, opts, engine, bake, name)
    except HootError:
        bake.set_attr("phase", "failed")  # workers stop waiting
        raise


def _winner_weights_here(ctx: Any, engine: Engine, executor: StudyExecutor, winner: str) -> None:
    """The fine-tune continues from the winner's bake-off weights, which a worker trained in its
    own run folder (maybe on another machine). train_rung is deterministic, so the coordinator
    re-trains the winner's last rung here (one rung of one model; a no-op when its checkpoint is
    already here) and checks that it gets the number the worker reported."""
    rungs = [r for (name, r) in executor.results if name == winner]
    if not rungs:
        return
    last = max(rungs)
    log(f"rebuilding {winner}'s rung {last} weights here for the fine-tune")
    mine = engine.train_rung(ctx, winner, last)
    theirs = executor.results[(winner, last)]
    key = "val_loss" if "val_loss" in theirs else executor.metric
    a, b = mine.get(key), theirs.get(key)
    if a is not None and b is not None and not math.isclose(float(a), float(b), rel_tol=1e-4, abs_tol=1e-6):
        log(f"warning: {winner} rung {last} gives {key}={a} here but {b} on the worker "
            "(different hardware or library versions train slightly differently)")


def _coordinate(config: Any, opts: ScaleoutOptions, engine: Engine, bake: st.BakeoffStudy, name: str) -> dict[str, Any]:
    ctx = engine.prepare(config)
    metric = engine.metric(ctx)
    bake.set_attr("metric", metric)
    run_dir = Path(getattr(ctx, "run_dir", config.run_dir))
    executor = StudyExecutor(bake, engine, metric, train_here=opts.storage is None)
    started = time.perf_counter()
    try:
        result = engine.run_bakeoff(ctx, executor=executor)
    finally:
        if engine.report is not None and (run_dir / "bakeoff.json").is_file():
            engine.report(run_dir)
    bakeoff_s = time.perf_counter() - started
    winner = _winner_of(result)
    executor.finish(winner)
    if opts.storage:
        _winner_weights_here(ctx, engine, executor, winner)
    table = result.table() if hasattr(result, "table") else []
    bake.set_attr("winner", winner)
    bake.set_attr("table", _clean(table))
    bake.set_attr("coordinator_bakeoff_s", round(bakeoff_s, 3))
    bake.set_attr("coordinator_storage_s", round(st.STORAGE_TIME.seconds, 3))
    bake.set_attr("phase", "finetune")
    log(f"winner: {winner}; fine-tuning on {opts.world_size} process(es)")
    ft_file = run_dir / "finetune.json"
    finetune_result = json.loads(ft_file.read_text()) if ft_file.is_file() else None
    if finetune_result is None:
        if opts.world_size > 1:
            from hoot.trainer import distributed

            finetune_result = distributed.launch_finetune(
                config, winner, nproc=opts.nproc, nnodes=opts.nnodes, rdzv_endpoint=opts.rdzv_endpoint,
                sync_bn=opts.sync_bn, engine=engine.name, run_dir=run_dir,
                storage=opts.storage, study=name if opts.storage else None)
        else:
            finetune_result = engine.finetune(ctx, winner)
            ft_file.write_text(json.dumps(finetune_result, indent=2, default=str), encoding="utf-8")
    if engine.report is not None:
        engine.report(run_dir)
    final = {k: v for k, v in ((finetune_result or {}).get("final") or {}).items() if isinstance(v, (int, float))}
    bake.set_attr("finetune", _clean({"final": final, "world_size": (finetune_result or {}).get("world_size", 1)}))
    bake.set_attr("phase", "done")
    log(f"report: {run_dir / 'report.md'}; storage calls took {st.STORAGE_TIME.seconds:.2f}s "
        f"({st.STORAGE_TIME.calls} calls) of a {bakeoff_s:.1f}s bake-off")
    return {"study": name, "run_id": getattr(config, "run_id", None), "run_dir": str(run_dir), "winner": winner,
            "table": table, "final": final, "finetune": finetune_result,
            "storage_s": round(st.STORAGE_TIME.seconds, 3), "storage_calls": st.STORAGE_TIME.calls,
            "bakeoff_s": round(bakeoff_s, 3)}


def worker_config(config: Any, study_name: str) -> Any:
    """The worker's own run folder: <output>/<study>-workers/<host>-<pid>, so workers never share files."""
    changes = {"output": str(Path(config.output) / f"{study_name}-workers"),
               "run_id": st.worker_id().replace(":", "-").replace("/", "-")}
    return dataclasses.replace(config, **changes) if dataclasses.is_dataclass(config) else config


def run_worker(config: Any, opts: ScaleoutOptions, engine: Engine) -> dict[str, Any]:
    """Claim rungs until the bake-off is over; nothing is written before the checks pass."""
    assert opts.storage and opts.study
    probe = st.open_storage(opts.storage, create=False)
    bake = st.load(probe, opts.study)
    check_same_run(bake, config)
    attrs = bake.attrs()
    storage = st.open_storage(opts.storage, create=False, heartbeat_s=int(attrs.get("heartbeat_s") or st.DEFAULT_HEARTBEAT_S))
    bake = st.load(storage, opts.study)
    # prepare (scan, decode) before claiming anything: a claimed rung must start beating at once
    ctx = engine.prepare(worker_config(config, opts.study))
    metric = engine.metric(ctx)
    trained = 0
    started = time.perf_counter()
    last_note = 0.0
    log(f"worker {st.worker_id()} joined study '{opts.study}'")
    poller = st.Poller(bake)
    while True:
        poller.fail_stale()
        trial = st.claim_work(bake)
        if trial is not None:
            run_claimed(bake, engine, ctx, trial, metric)
            trained += 1
            poller.moved()  # the next rung is often queued right after this one's result
            continue
        phase = bake.phase()
        if phase == "failed":
            raise HootError(f"study '{opts.study}' stopped: the coordinator failed (see its log); restart it to resume")
        if phase != "bakeoff":
            break
        if time.monotonic() - last_note > 60:
            log(f"worker {st.worker_id()}: waiting for work in '{opts.study}'")
            last_note = time.monotonic()
        poller.sleep()
    wall = time.perf_counter() - started
    log(f"worker {st.worker_id()} done: {trained} rung(s) in {wall:.1f}s, storage calls {st.STORAGE_TIME.seconds:.2f}s")
    summary: dict[str, Any] = {"study": opts.study, "worker": st.worker_id(), "rungs_trained": trained,
                               "wall_s": round(wall, 3), "storage_s": round(st.STORAGE_TIME.seconds, 3),
                               "storage_calls": st.STORAGE_TIME.calls}
    bake.set_attr(f"worker_summary:{st.worker_id()}", summary)  # for --status and the benchmarks
    if opts.nnodes > 1:
        summary["finetune"] = join_finetune(bake, config, opts, engine)
    return summary


def join_finetune(bake: st.BakeoffStudy, config: Any, opts: ScaleoutOptions, engine: Engine) -> dict:
    """On the other machines of a multi-node fine-tune: wait for the winner, then join torchrun's rendezvous."""
    from hoot.trainer import distributed

    while True:
        attrs = bake.attrs()
        if attrs.get("winner") and attrs.get("phase") in ("finetune", "done"):
            break
        time.sleep(POLL_S)
    wc = worker_config(config, opts.study or "study")
    return distributed.launch_finetune(
        wc, str(attrs["winner"]), nproc=opts.nproc, nnodes=opts.nnodes, rdzv_endpoint=opts.rdzv_endpoint,
        sync_bn=opts.sync_bn, engine=engine.name, run_dir=Path(wc.output) / wc.run_id,
        storage=opts.storage, study=opts.study,
    )


def status_rows(bake: st.BakeoffStudy) -> list[dict[str, Any]]:
    """One row per candidate: its state and the metric of every rung, plus who is training it now."""
    attrs = bake.attrs()
    metric = str(attrs.get("metric", "value"))
    candidates: list[str] = list(attrs.get("candidates") or [])
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
    assert opts.storage and opts.study
    storage = st.open_storage(opts.storage, create=False)
    bake = st.load(storage, opts.study)
    attrs = bake.attrs()
    running = bake.rung_trials((TrialState.RUNNING,))
    log(f"study '{opts.study}': phase {attrs.get('phase', 'bakeoff')}, winner {attrs.get('winner') or '-'}, "
        f"{len(running)} rung(s) training")
    return status_rows(bake)


def run_shortlist(config: Any, scaleout_options: dict[str, Any], *, engine: Engine | None = None) -> Any:
    """Entry point for `hoot shortlist` with any scale-out flag (see the module docstring)."""
    opts = ScaleoutOptions.from_dict(scaleout_options)
    if opts.status:
        from hoot.advisor.render import render

        rows = run_status(opts)
        print(render(rows, opts.format))
        return rows
    engine = engine or default_engine()
    if opts.worker:
        return run_worker(config, opts, engine)
    return run_coordinator(config, opts, engine)


__all__ = ["ScaleoutOptions", "run_shortlist", "run_worker", "run_coordinator", "status_rows", "Engine"]
