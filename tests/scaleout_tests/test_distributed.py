"""DDP on gloo with 2 CPU processes, launched by torchrun, against the same code on 1 process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hoot.trainer.orchestration.scaleout.launch import torchrun_command
from hoot.trainer.training.ddp import all_reduce_mean, backend_for, init_from_env, make_ddp_wrap



def torchrun(nproc: int, out: Path, *extra: str) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
           "-m", "hoot.testing.toy_ddp", str(out), *extra]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, dict]:
    folder = tmp_path_factory.mktemp("ddp")
    return {"one": torchrun(1, folder / "one.json"), "two": torchrun(2, folder / "two.json")}


def test_parameters_identical_across_ranks_after_training(runs):
    two = runs["two"]
    assert two["world_size"] == 2 and len(two["checksums"]) == 2
    assert two["checksums"][0] == two["checksums"][1]  # bit for bit


def test_loss_curve_matches_single_process_run(runs):
    one, two = runs["one"]["losses"], runs["two"]["losses"]
    assert len(one) == len(two) == 3 * 256 // 32
    assert one[-1] < 0.7 * one[0]  # it learned something, so the comparison means something
    diff = max(abs(a - b) for a, b in zip(one, two))
    assert diff < 1e-4, f"2-process loss curve differs from 1-process by {diff}"


def test_one_process_needs_no_process_group(monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    rank, world, local, device = init_from_env("cpu")
    assert (rank, world, local, device.type) == (0, 1, 0, "cpu")
    model = torch.nn.Linear(2, 2)
    assert make_ddp_wrap(device, sync_bn=True)(model) is model  # nothing to wrap with one process
    assert all_reduce_mean({"loss": 1.5}) == {"loss": 1.5}
    assert backend_for(torch.device("cpu")) == "gloo" and backend_for(torch.device("cuda", 0)) == "nccl"


def test_torchrun_command_single_and_multi_node(tmp_path):
    spec = tmp_path / "run1" / "ddp_spec.json"
    one = torchrun_command(spec, nproc=2)
    assert one[1:3] == ["-m", "torch.distributed.run"] and "--standalone" in one and "--nproc-per-node=2" in one
    multi = torchrun_command(spec, nproc=4, nnodes=2, rdzv_endpoint="node0:29500", rdzv_id="s1")
    assert "--nnodes=2" in multi and "--rdzv-backend=c10d" in multi and "--rdzv-endpoint=node0:29500" in multi
    assert "--rdzv-id=s1" in multi  # the same on every machine: the study's name and multi[-3:] == ["-m", "hoot.trainer.orchestration.scaleout.distributed", str(spec)]


def test_sync_bn_on_cpu_is_refused_before_launch(tmp_path):
    from hoot.advisor.errors import HootError
    from hoot.trainer.config import ShortlistConfig
    from hoot.trainer.orchestration.scaleout.launch import launch_finetune

    config = ShortlistConfig(data_dir=str(tmp_path), candidates=["a"], output=str(tmp_path), device="cpu")
    with pytest.raises(HootError, match="--sync-bn needs CUDA"):
        launch_finetune(config, "a", nproc=2, sync_bn=True)
    assert not (tmp_path / config.run_id).exists()  # nothing written


def test_cuda_request_without_cuda_is_one_line_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    from hoot.advisor.errors import HootError

    with pytest.raises(HootError, match="CUDA is not available"):
        init_from_env("cuda")
