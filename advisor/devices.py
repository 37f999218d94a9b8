"""One device resolver for every command: what `--device auto|cpu|cuda|cuda:N` means here.

Pure: the caller says how many CUDA GPUs it sees (bench asks a child process, the trainer
asks torch), so this module imports no torch and every rule lives in one place.
"""

from __future__ import annotations

from hoot.advisor.errors import HootError


def resolve_device(requested: str, gpu_count: int, *, local_rank: int = 0, torch_version: str | None = None) -> str:
    """'auto' -> 'cuda:<local_rank>' or 'cpu'; 'cuda' -> 'cuda:<local_rank>'; 'cuda:N' checked.

    local_rank: the process's rank on this machine (torchrun's LOCAL_RANK): one GPU per rank.
    """
    req = (requested or "").strip().lower()
    if req == "cpu":
        return "cpu"
    if req == "auto" and gpu_count == 0:
        return "cpu"
    if req in ("auto", "cuda") or req.startswith("cuda:"):
        if gpu_count == 0:
            who = f"torch {torch_version}" if torch_version else "torch"
            raise HootError(f"--device {requested}: {who} sees no CUDA GPU on this machine (CUDA is not available); "
                            "use --device cpu (or auto)")
        index_text = req.partition(":")[2]
        if index_text:
            if not index_text.isdigit() or int(index_text) >= gpu_count:
                raise HootError(f"--device {requested}: no such GPU; this machine has cuda:0..cuda:{gpu_count - 1}")
            return f"cuda:{int(index_text) + local_rank}" if local_rank else f"cuda:{int(index_text)}"
        if local_rank >= gpu_count:
            raise HootError(f"--nproc asks for GPU {local_rank} but this machine has {gpu_count}; "
                            "set --nproc to the number of GPUs")
        return f"cuda:{local_rank}"
    raise HootError(f"--device '{requested}' is not understood; use auto, cpu, cuda or cuda:N")


def torch_device(requested: str, *, local_rank: int = 0):  # -> torch.device
    """resolve_device against what this process's torch sees, as a torch.device."""
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return torch.device(resolve_device(requested, count, local_rank=local_rank, torch_version=torch.__version__))


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the OS has one, else all).

    The one core count hoot uses for threads: bench, optimize and shortlist default to it and
    refuse more (more torch threads than cores make OpenMP threads wait on each other: a
    measurement 10-100x too slow, a training run that never ends). Not the hardware
    fingerprint's `cpu_cores`, which describes the machine, not this process's share of it.
    """
    import os

    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def check_threads(threads: int | None, option: str = "--threads") -> int | None:
    """`threads` unchanged when this process has that many cores; a HootError naming the option if not."""
    if threads is None:
        return None
    cores = usable_cores()
    if threads > cores:
        raise HootError(f"{option} {threads} is more than the {cores} CPU core(s) this process may use; "
                        f"pass {option} {cores} or fewer (or leave it out to use all {cores})")
    return threads
