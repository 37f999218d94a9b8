"""The winner's fine-tune with PyTorch's DistributedDataParallel, launched by torchrun.

`launch_finetune` runs `python -m torch.distributed.run` (torchrun) with
hoot.trainer.orchestration.scaleout.distributed as the entry point; each rank (`rank_main`) rebuilds the run from a
small spec file (the config, the winner), joins the process group (gloo on CPU, nccl on
CUDA, one GPU per local rank; hoot.trainer.training.ddp) and calls the engine's
`finetune(ctx, winner, rank=, world_size=, ddp_wrap=)`, which swaps in a DistributedSampler
(with `set_epoch`), averages the training loss across ranks and lets only rank 0 write
checkpoints, logs and reports. With one process the same code runs unchanged.

Why torchrun rather than mp.spawn: it is the launcher users already run on clusters (it
handles several machines, rendezvous, restarts and the environment every rank needs), so
the command hoot runs is one they can read, copy and run by hand.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hoot.advisor.devices import usable_cores
from hoot.advisor.errors import HootError
from hoot.trainer.orchestration.scaleout import study as st
from hoot.trainer.orchestration.engine import load_engine
from hoot.trainer.config import ShortlistConfig
from hoot.trainer.training.finetune_result import FinetuneResult

if TYPE_CHECKING:
    import torch

# torch (and hoot.trainer.training.ddp) are imported inside the functions: a worker or a --status that
# never launches a fine-tune starts without paying for torch's import

log = logging.getLogger(__name__)

SPEC_NAME = "ddp_spec.json"


# --------------------------------------------------------------------------- one rank


def _rank_config(config: Any, device: torch.device) -> Any:
    """The rank's own copy of the config: its device, and on CPU its share of the machine's cores
    (unless --threads says otherwise). The config itself is never changed."""
    import torch

    changes: dict[str, Any] = {"device": str(device)}
    if device.type == "cpu":
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
        torch.set_num_threads(config.num_threads or max(1, usable_cores() // local_world))
        changes["num_threads"] = torch.get_num_threads()
    return dataclasses.replace(config, **changes)


def rank_main(spec_path: Path) -> int:
    """One torchrun rank: rebuild the run, fine-tune under DDP, rank 0 writes finetune.json."""
    import torch.distributed as dist

    from hoot.trainer.training.ddp import init_from_env, make_ddp_wrap

    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    engine = load_engine(spec.get("engine"))
    from hoot.trainer.config import ShortlistConfig

    requested = ShortlistConfig.from_dict(spec["config"])
    rank, world_size, local_rank, device = init_from_env(requested.device)
    config = _rank_config(requested, device)
    # one local rank at a time: the first decodes (or reuses) the cache, the others only
    # memory-map it, and no two write the run folder's config.json/dataset.json at once
    ctx = None
    for turn in range(int(os.environ.get("LOCAL_WORLD_SIZE", "1"))):
        if turn == local_rank:
            ctx = engine.prepare(config)
        if dist.is_initialized():
            dist.barrier()
    assert ctx is not None
    if rank != 0 and hasattr(ctx, "progress"):
        ctx.progress = False
    wrap = make_ddp_wrap(device, spec.get("sync_bn", False))
    result = engine.finetune(ctx, spec["winner"], rank=rank, world_size=world_size, ddp_wrap=wrap)
    result = _with_rank_agreement(result, world_size, device, bool(spec.get("sync_bn")))
    if rank == 0:
        run_dir = Path(getattr(ctx, "run_dir", config.run_dir))
        tmp = run_dir / "finetune.json.tmp"
        tmp.write_text(json.dumps(result.to_dict(), indent=2, default=str), encoding="utf-8")
        tmp.replace(run_dir / "finetune.json")
        if spec.get("storage") and spec.get("study"):
            _record_in_study(spec["storage"], spec["study"], result)
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    return 0


def _with_rank_agreement(result: FinetuneResult, world_size: int, device: torch.device,
                         sync_bn: bool) -> FinetuneResult:
    """Evidence that the replicas stayed in step: each rank evaluates its own replica after every
    epoch, so equal validation numbers on all ranks mean equal weights."""
    from hoot.trainer.training.ddp import all_gather_floats, backend_for

    per_epoch = [float(v) for row in result.history for k, v in sorted(row.items())
                 if k.startswith("val_") and isinstance(v, (int, float))]
    gathered = all_gather_floats(per_epoch, device)
    spread = max((abs(a - b) for g in gathered for a, b in zip(g, gathered[0])), default=0.0)
    return result.with_extra(world_size=world_size, backend=backend_for(device) if world_size > 1 else None,
                             sync_bn=sync_bn, ranks_max_abs_diff=spread, ranks_agree=spread <= 1e-5)


def _record_in_study(storage: str, study: str, result: FinetuneResult) -> None:
    """Rank 0 may run on another machine than the coordinator: the study carries the result back."""
    bake = st.load(st.open_storage(storage, create=False), study)
    bake.set_attr("finetune_result", st.json_safe({k: v for k, v in result.to_dict().items() if k != "history"}))


# --------------------------------------------------------------------------- the launcher


def torchrun_command(spec_path: Path, *, nproc: int, nnodes: int = 1, rdzv_endpoint: str | None = None,
                     rdzv_id: str | None = None) -> list[str]:
    """The torchrun command line hoot runs (logged, so it can be run by hand on other machines).

    rdzv_id must be the same on every machine of one fine-tune: the study's name.
    """
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc}", f"--nnodes={nnodes}"]
    if nnodes > 1 or rdzv_endpoint:
        cmd += ["--rdzv-backend=c10d", f"--rdzv-endpoint={rdzv_endpoint}", f"--rdzv-id={rdzv_id or 'hoot'}"]
    else:
        cmd += ["--standalone"]
    return cmd + ["-m", "hoot.trainer.orchestration.scaleout.distributed", str(spec_path)]


def launch_finetune(config: ShortlistConfig, winner: str, *, nproc: int, nnodes: int = 1, rdzv_endpoint: str | None = None,
                    sync_bn: bool = False, engine: str = "trainer", run_dir: Path | None = None,
                    storage: str | None = None, study: str | None = None,
                    timeout_s: float | None = None) -> FinetuneResult:
    """Run the fine-tune on nproc processes here (x nnodes machines) and return rank 0's result."""
    if sync_bn:
        import torch

        from hoot.trainer.training.ddp import check_sync_bn

        wants_cuda = config.device.startswith("cuda") or (config.device == "auto" and torch.cuda.is_available())
        check_sync_bn("cuda" if wants_cuda else "cpu")
    run_dir = Path(run_dir or config.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    spec_path = run_dir / SPEC_NAME
    spec = {"config": config.to_dict(), "winner": winner, "sync_bn": sync_bn, "engine": engine,
            "storage": storage, "study": study}
    spec_path.write_text(json.dumps(spec, indent=2), encoding="utf-8")
    cmd = torchrun_command(spec_path, nproc=nproc, nnodes=nnodes, rdzv_endpoint=rdzv_endpoint,
                           rdzv_id=study or run_dir.name)
    log.info("%s", " ".join(cmd))
    # the ranks import hoot as installed: the working directory (a user's own ./trainer/ or ./hoot/)
    # is not put on their path (PYTHONSAFEPATH, Python 3.11+)
    env = {**os.environ, "PYTHONSAFEPATH": "1"}
    started = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=env, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise HootError(f"the distributed fine-tune did not finish within {timeout_s:.0f}s") from None
    except KeyboardInterrupt:
        log.warning("interrupted; last.pt in %s is kept", run_dir)
        raise
    if proc.returncode != 0:
        raise HootError(f"the distributed fine-tune failed (torchrun exit {proc.returncode}); see the rank logs above")
    result_file = run_dir / "finetune.json"
    if result_file.is_file():
        result = json.loads(result_file.read_text(encoding="utf-8"))
    elif storage and study:
        result = st.load(st.open_storage(storage, create=False), study).attrs().get("finetune_result") or {}
    else:
        result = {}
    result.setdefault("launch_seconds", round(time.perf_counter() - started, 2))
    return FinetuneResult.from_dict({"winner": winner, **result})
