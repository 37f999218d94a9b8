"""A small DDP training run with hoot.trainer.training.ddp's helpers, for the gloo tests.

Run under torchrun: python -m torch.distributed.run --standalone --nproc-per-node N -m hoot.testing.toy_ddp OUT.json
The global batch is 32 whatever N is (32 // N per rank), so N=1 and N=2 follow the same
optimisation path; rank 0 writes the loss curve (mean over ranks) and every rank's
parameter checksum.
"""

import json
import sys

import torch
from torch import nn
from torch.utils.data.distributed import DistributedSampler

from hoot.trainer.training.ddp import all_gather_floats, all_reduce_mean, init_from_env, make_ddp_wrap, param_checksum

GLOBAL_BATCH, N, EPOCHS = 32, 256, 3


def main(out: str) -> None:
    torch.set_num_threads(1)
    rank, world, _local, device = init_from_env("cpu")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, 16, generator=g)
    y = (x @ torch.randn(16, 4, generator=g)).argmax(1)
    torch.manual_seed(0)  # same initial weights on every rank (DDP also broadcasts rank 0's)
    # no BatchNorm: on CPU there is no SyncBatchNorm, and per-rank BN statistics would make the
    # 2-process run a different optimisation problem than the 1-process one
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    ddp = make_ddp_wrap(device)(model)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
    sampler = DistributedSampler(range(N), num_replicas=world, rank=rank, shuffle=True, seed=0)
    per_rank = GLOBAL_BATCH // world
    losses = []
    for epoch in range(EPOCHS):
        sampler.set_epoch(epoch)
        idx = list(sampler)
        for i in range(0, len(idx), per_rank):
            b = torch.tensor(idx[i:i + per_rank])
            loss = nn.functional.cross_entropy(ddp(x[b]), y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(all_reduce_mean({"loss": loss.item()})["loss"])
    checksums = all_gather_floats(param_checksum(model))
    if rank == 0:
        with open(out, "w") as fh:
            json.dump({"world_size": world, "losses": losses, "checksums": checksums}, fh)


if __name__ == "__main__":
    main(sys.argv[1])
