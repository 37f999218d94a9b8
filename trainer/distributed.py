"""The winner's fine-tune with PyTorch's DistributedDataParallel, launched by torchrun.

`launch_finetune` runs `python -m torch.distributed.run` (torchrun) with this module as the
entry point; each rank rebuilds the run from a small spec file (the config, the winner),
joins the process group (gloo on CPU, nccl on CUDA, one GPU per local rank) and calls
`trainer.finetune.finetune(ctx, winner, rank=, world_size=, ddp_wrap=)`, which swaps in a
DistributedSampler (with `set_epoch`), averages the training loss across ranks and lets only
rank 0 write checkpoints, logs and reports. With one process the same code runs unchanged.

Why torchrun rather than mp.spawn: it is the launcher users already run on clusters (it
handles several machines, rendezvous, restarts and the environment every rank needs), so
the command hoot runs is one they can read, copy and run by hand.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from hoot.advisor.devices import torch_device
from hoot.advisor.errors import HootError

SPEC_NAME = "ddp_spec.json"


# --------------------------------------------------------------------------- inside a rank


def backend_for(device: torch.device) -> str:
    """nccl between GPUs, gloo between CPU processes."""
    return "nccl" if device.type == "cuda" else "gloo"


def rank_device(local_rank: int, requested: str = "auto") -> torch.device:
    """One GPU per local rank when CUDA is asked for (or auto and present), else the CPU."""
    device = torch_device(requested, local_rank=local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


def init_from_env(requested_device: str = "auto") -> tuple[int, int, int, torch.device]:
    """Join the process group torchrun set up (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT).

    Without torchrun's variables this is one process: rank 0 of 1, no process group.
    """
    rank = int(os.environ.get("RANK", "0"))
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = rank_device(local_rank, requested_device)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend=backend_for(device), device_id=device if device.type == "cuda" else None)
    return rank, world_size, local_rank, device


def check_sync_bn(device: torch.device | str) -> None:
    """SyncBatchNorm exists only for CUDA in PyTorch: say so before any process starts."""
    if torch.device(device).type != "cuda":
        raise HootError("--sync-bn needs CUDA GPUs (PyTorch's SyncBatchNorm has no CPU version); drop --sync-bn on CPU")


def make_ddp_wrap(device: torch.device, sync_bn: bool = False) -> Callable[[nn.Module], nn.Module]:
    """`ddp_wrap(model)` for finetune: SyncBatchNorm if asked (BN statistics over the global
    batch, which matters when each rank's share of the batch is small), then DDP."""

    def wrap(model: nn.Module) -> nn.Module:
        if not dist.is_initialized() or dist.get_world_size() == 1:
            return model
        if sync_bn:
            check_sync_bn(device)
            converted = nn.SyncBatchNorm.convert_sync_batchnorm(model)
            if converted is not model:  # a bare BN module is replaced, not converted in place
                raise HootError("--sync-bn cannot convert a model that is a single BatchNorm layer")
        ids = [device.index] if device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)

    return wrap


def all_reduce_mean(values: dict[str, float], device: torch.device | None = None) -> dict[str, float]:
    """Mean of each metric over all ranks (identity with one process)."""
    if not values or not dist.is_initialized() or dist.get_world_size() == 1:
        return dict(values)
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device or torch.device("cpu"))
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    t /= dist.get_world_size()
    return dict(zip(keys, t.tolist()))


def all_gather_floats(values: list[float], device: torch.device | None = None) -> list[list[float]]:
    """Every rank's list of numbers (same length on all ranks), in rank order."""
    t = torch.tensor(values, dtype=torch.float64, device=device or torch.device("cpu"))
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return [t.tolist()]
    out = [torch.zeros_like(t) for _ in range(dist.get_world_size())]
    dist.all_gather(out, t)
    return [o.tolist() for o in out]


def param_checksum(model: nn.Module) -> list[float]:
    """(sum, sum of squares, sum of |x| weighted by position) of every parameter: equal on every
    rank exactly when DDP kept the replicas in step."""
    with torch.no_grad():
        flat = torch.cat([p.detach().double().flatten().cpu() for p in model.parameters()])
        pos = torch.arange(1, flat.numel() + 1, dtype=torch.float64) / flat.numel()
        return [float(flat.sum()), float((flat * flat).sum()), float((flat.abs() * pos).sum())]


# --------------------------------------------------------------------------- the entry point


def _rank_main(spec_path: Path) -> int:
    """One torchrun rank: rebuild the run, fine-tune under DDP, rank 0 writes finetune.json."""
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    from hoot.trainer.scaleout import load_engine

    engine = load_engine(spec.get("engine"))
    from hoot.trainer.config import ShortlistConfig

    config = ShortlistConfig.from_dict(spec["config"])
    rank, world_size, local_rank, device = init_from_env(config.device)
    if device.type == "cpu":
        # the machine's cores shared among its ranks, unless --threads says otherwise
        torch.set_num_threads(config.num_threads or max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))
        config.num_threads = torch.get_num_threads()
    config.device = str(device)
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
    # evidence that the replicas stayed in step: each rank evaluates its own replica after every
    # epoch, so equal validation numbers on all ranks mean equal weights
    per_epoch = [float(v) for row in (result or {}).get("history", []) for k, v in sorted(row.items())
                 if k.startswith("val_") and isinstance(v, (int, float))]
    gathered = all_gather_floats(per_epoch, device)
    result = dict(result or {})
    result["world_size"] = world_size
    result["backend"] = backend_for(device) if world_size > 1 else None
    result["sync_bn"] = bool(spec.get("sync_bn"))
    spread = max((abs(a - b) for g in gathered for a, b in zip(g, gathered[0])), default=0.0)
    result["ranks_max_abs_diff"] = spread
    result["ranks_agree"] = spread <= 1e-5
    if rank == 0:
        run_dir = Path(getattr(ctx, "run_dir", config.run_dir))
        tmp = run_dir / "finetune.json.tmp"
        tmp.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
        tmp.replace(run_dir / "finetune.json")
        if spec.get("storage") and spec.get("study"):
            _record_in_study(spec["storage"], spec["study"], result)
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    return 0


def _record_in_study(storage: str, study: str, result: dict) -> None:
    """Rank 0 may run on another machine than the coordinator: the study carries the result back."""
    from hoot.trainer import study as st
    from hoot.trainer.scaleout import _clean

    bake = st.load(st.open_storage(storage, create=False), study)
    bake.set_attr("finetune_result", _clean({k: v for k, v in result.items() if k != "history"}))


# --------------------------------------------------------------------------- the launcher


def torchrun_command(spec_path: Path, *, nproc: int, nnodes: int = 1, rdzv_endpoint: str | None = None,
                     rdzv_id: str | None = None) -> list[str]:
    """The torchrun command line hoot runs (printed, so it can be run by hand on other machines).

    rdzv_id must be the same on every machine of one fine-tune: the study's name.
    """
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc}", f"--nnodes={nnodes}"]
    if nnodes > 1 or rdzv_endpoint:
        cmd += ["--rdzv-backend=c10d", f"--rdzv-endpoint={rdzv_endpoint}", f"--rdzv-id={rdzv_id or 'hoot'}"]
    else:
        cmd += ["--standalone"]
    return cmd + ["-m", "hoot.trainer.distributed", str(spec_path)]


def launch_finetune(config: Any, winner: str, *, nproc: int, nnodes: int = 1, rdzv_endpoint: str | None = None,
                    sync_bn: bool = False, engine: str = "trainer", run_dir: Path | None = None,
                    storage: str | None = None, study: str | None = None, timeout_s: float | None = None) -> dict:
    """Run the fine-tune on nproc processes here (x nnodes machines) and return rank 0's result."""
    if sync_bn:
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
    print("hoot: " + " ".join(cmd), file=sys.stderr, flush=True)
    # the ranks import hoot as installed: the working directory (a user's own ./trainer/ or ./hoot/)
    # is not put on their path (PYTHONSAFEPATH, Python 3.11+)
    env = {**os.environ, "PYTHONSAFEPATH": "1"}
    started = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=env, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise HootError(f"the distributed fine-tune did not finish within {timeout_s:.0f}s") from None
    except KeyboardInterrupt:
        print(f"hoot: interrupted; last.pt in {run_dir} is kept", file=sys.stderr)
        raise
    if proc.returncode != 0:
        raise HootError(f"the distributed fine-tune failed (torchrun exit {proc.returncode}); see the rank logs above")
    result_file = run_dir / "finetune.json"
    if result_file.is_file():
        result = json.loads(result_file.read_text(encoding="utf-8"))
    elif storage and study:
        from hoot.trainer import study as st

        result = st.load(st.open_storage(storage, create=False), study).attrs().get("finetune_result") or {}
    else:
        result = {}
    result.setdefault("launch_seconds", round(time.perf_counter() - started, 2))
    return result


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python -m torch.distributed.run ... -m hoot.trainer.distributed SPEC.json", file=sys.stderr)
        sys.exit(2)
    try:
        sys.exit(_rank_main(Path(sys.argv[1])))
    except HootError as exc:
        print(f"hoot: error: {exc.format_message()}", file=sys.stderr)
        sys.exit(2)
