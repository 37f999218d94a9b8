"""Inside one torchrun rank: join the process group, wrap the model in DDP, agree on numbers.

Below the orchestration on purpose: training code (trainer.training.finetune) uses these helpers
without importing the launcher or the study (hoot.trainer.orchestration.scaleout.distributed and
hoot.trainer.orchestration.scaleout import this module, never the other way round). With one process,
every helper is the identity, so the same training code runs with or without torchrun.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch
import torch.distributed as dist
from torch import nn

from hoot.advisor.devices import torch_device
from hoot.advisor.errors import HootError


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
        if _one_process():
            return model
        if sync_bn:
            check_sync_bn(device)
            converted = nn.SyncBatchNorm.convert_sync_batchnorm(model)
            if converted is not model:  # a bare BN module is replaced, not converted in place
                raise HootError("--sync-bn cannot convert a model that is a single BatchNorm layer")
        ids = [device.index] if device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)

    return wrap


def _one_process() -> bool:
    return not dist.is_available() or not dist.is_initialized() or dist.get_world_size() == 1


def all_reduce_mean(values: dict[str, float], device: torch.device | None = None) -> dict[str, float]:
    """Mean of each metric over all ranks (identity with one process): hoot's one all-reduce."""
    if not values or _one_process():
        return dict(values)
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device or torch.device("cpu"))
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    t /= dist.get_world_size()
    return dict(zip(keys, t.tolist()))


def all_gather_floats(values: list[float], device: torch.device | None = None) -> list[list[float]]:
    """Every rank's list of numbers (same length on all ranks), in rank order."""
    t = torch.tensor(values, dtype=torch.float64, device=device or torch.device("cpu"))
    if _one_process():
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
