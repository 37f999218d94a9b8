"""`hoot shortlist --worker`: claim queued rungs, train them, tell the results; join the fine-tune.

A worker checks that its data and settings are the study's before it writes anything, then
prepares (scans, decodes) before claiming anything, so a claimed rung starts at once. Optuna
beats the rung's heartbeat while it trains; a worker that dies is noticed by whoever looks
next (`fail_stale_trials`) and its rung re-queued for another. It leaves when the bake-off is
over, and with --nnodes > 1 joins the fine-tune as one more machine.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

from hoot.advisor.errors import HootError
from hoot.trainer.config import ShortlistConfig
from hoot.trainer.orchestration.scaleout import study as st
from hoot.trainer.orchestration.engine import Engine
from hoot.trainer.orchestration.scaleout.fingerprint import check_same_run
from hoot.trainer.orchestration.scaleout.launch import launch_finetune
from hoot.trainer.orchestration.scaleout.options import ScaleoutOptions
from hoot.trainer.orchestration.pipeline import RunPhase
from hoot.trainer.orchestration.results import WorkerSummary
from hoot.trainer.training.finetune_result import FinetuneResult
from hoot.trainer.orchestration.scaleout.rung import train_next_rung

log = logging.getLogger(__name__)

#: seconds between looks at the study while waiting for the winner (multi-node fine-tune)
POLL_S = 1.0


def worker_config(config: ShortlistConfig, study_name: str) -> ShortlistConfig:
    """The worker's own run folder: <output>/<study>-workers/<host>-<pid>, so workers never share files."""
    return dataclasses.replace(config, output=str(Path(config.output) / f"{study_name}-workers"),
                               run_id=st.worker_id().replace(":", "-").replace("/", "-"))


def run_worker(config: ShortlistConfig, opts: ScaleoutOptions, engine: Engine) -> WorkerSummary:
    """Claim rungs until the bake-off is over; nothing is written before the checks pass."""
    assert opts.storage and opts.study
    recorded = st.load(st.open_storage(opts.storage, create=False), opts.study)
    check_same_run(recorded, config)
    heartbeat_s = int(recorded.attrs().get("heartbeat_s") or st.DEFAULT_HEARTBEAT_S)
    storage = st.open_storage(opts.storage, create=False, heartbeat_s=heartbeat_s)
    bake = st.load(storage, opts.study, heartbeat_s=heartbeat_s if st.is_rdb_url(opts.storage) else None)
    ctx = engine.prepare(worker_config(config, opts.study))
    metric = engine.metric(ctx)
    trained = 0
    started = time.perf_counter()
    last_note = 0.0
    log.info("worker %s joined study '%s'", st.worker_id(), opts.study)
    poller = st.Poller(bake)
    while True:
        poller.fail_stale()
        if train_next_rung(bake, engine, ctx, metric):
            trained += 1
            poller.moved()  # the next rung is often queued right after this one's result
            continue
        phase = RunPhase.of(bake.attrs().get("phase"))
        if phase == RunPhase.FAILED:
            raise HootError(f"study '{opts.study}' stopped: the coordinator failed (see its log); restart it to resume")
        if not phase.wants_workers:
            break
        if time.monotonic() - last_note > 60:
            log.info("worker %s: waiting for work in '%s'", st.worker_id(), opts.study)
            last_note = time.monotonic()
        poller.sleep()
    wall = time.perf_counter() - started
    log.info("worker %s done: %d rung(s) in %.1fs, storage calls %.2fs", st.worker_id(), trained, wall,
             bake.timer.seconds)
    summary = WorkerSummary(study=opts.study, worker=st.worker_id(), rungs_trained=trained, wall_s=round(wall, 3),
                            storage_s=round(bake.timer.seconds, 3), storage_calls=bake.timer.calls)
    bake.set_attr(f"worker_summary:{st.worker_id()}", summary.to_dict())  # for --status and the benchmarks
    if opts.nnodes > 1:
        summary = dataclasses.replace(summary, finetune=join_finetune(bake, config, opts, engine))
    return summary


def join_finetune(bake: st.BakeoffStudy, config: ShortlistConfig, opts: ScaleoutOptions,
                  engine: Engine) -> FinetuneResult:
    """On the other machines of a multi-node fine-tune: wait for the winner, then join torchrun's rendezvous."""
    while True:
        attrs = bake.attrs()
        if attrs.get("winner") and RunPhase.of(attrs.get("phase")).has_winner:
            break
        if RunPhase.of(attrs.get("phase")) == RunPhase.FAILED:
            raise HootError(f"study '{opts.study}' stopped before its fine-tune: the coordinator failed (see its log)")
        time.sleep(POLL_S)
    wc = worker_config(config, opts.study or "study")
    return launch_finetune(
        wc, str(attrs["winner"]), nproc=opts.nproc, nnodes=opts.nnodes, rdzv_endpoint=opts.rdzv_endpoint,
        sync_bn=opts.sync_bn, engine=engine.name, run_dir=Path(wc.output) / wc.run_id,
        storage=opts.storage, study=opts.study,
    )
