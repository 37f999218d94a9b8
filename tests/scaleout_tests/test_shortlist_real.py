"""`hoot shortlist` scaled out with the real trainer: PostgreSQL workers, a killed worker, DDP on gloo.

Small but real: 4 torchvision models trained from scratch on 60 drawn 32 px images, one
torch thread per process. The reference is the plain single-process `hoot shortlist`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from optuna.trial import TrialState

from hoot.cli.main import main
from hoot.testing import processes
from hoot.testing.images import make_imagefolder
from hoot.trainer.orchestration.scaleout import study as st

CANDIDATES = "squeezenet1_1,mobilenet_v3_small,shufflenet_v2_x0_5,resnet18"


def _make_imagefolder(root: Path) -> Path:
    """The trainer tests' drawn shapes (hoot.testing.images), 3 classes x 20 images, 32 px."""
    return make_imagefolder(root, per_class=20, size=32)


def shortlist_args(data: Path, out: Path, candidates: str = CANDIDATES, *extra: str) -> list[str]:
    return ["shortlist", str(data), "--candidates", candidates, "--no-pretrained", "--image-size", "32",
            "--batch-size", "8", "--steps", "3", "--full-epochs", "1", "--threads", "1", "--seed", "0",
            "--output", str(out), *extra]


def hoot(args: list[str], folder: Path, tag: str, env: dict | None = None) -> subprocess.Popen:
    """`hoot ARGS` in its own process (killed after the test by conftest's reaper)."""
    return processes.spawn(processes.hoot_command(*args), folder, tag, env=env or hoot_env())


def hoot_env() -> dict:
    return {**os.environ, "HOOT_HEARTBEAT_SECONDS": "1", "OMP_NUM_THREADS": "1"}


def finish(procs: list[subprocess.Popen], folder: Path, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    try:
        codes = [p.wait(timeout=max(1.0, deadline - time.monotonic())) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    logs = "\n".join(f"--- {f.name}\n{f.read_text()[-2500:]}" for f in sorted(folder.glob("*.err")))
    assert codes == [0] * len(procs), logs


def rung_results(bakeoff_json: Path) -> dict[tuple[str, int], dict]:
    saved = json.loads(bakeoff_json.read_text())
    return {(name, r): metrics for r, results in enumerate(saved["rungs"]) for name, metrics in results.items()}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    """The single-process run: its data folder, its winner and every rung's metrics."""
    folder = tmp_path_factory.mktemp("real")
    data = _make_imagefolder(folder / "data")
    proc = subprocess.run(processes.hoot_command(*shortlist_args(data, folder / "out", CANDIDATES,
                           "--run-id", "ref", "--format", "json")), cwd=folder, env=hoot_env(), capture_output=True,
                          text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    saved = json.loads((folder / "out" / "ref" / "bakeoff.json").read_text())
    return {"folder": folder, "data": data, "winner": saved["winner"],
            "results": rung_results(folder / "out" / "ref" / "bakeoff.json")}


def _wait_for_study(url: str, name: str, timeout: float = 60) -> st.BakeoffStudy:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return st.load(st.open_storage(url, create=False), name)
        except Exception:  # noqa: BLE001 - not there yet
            time.sleep(0.2)
    raise AssertionError(f"the coordinator did not create study {name}")


def _check_against_reference(bake: st.BakeoffStudy, reference: dict) -> None:
    """Every candidate-rung ran exactly once, with the single-process run's numbers, under the same
    halving rule; the same winner.

    Metrics are deterministic; the tie-break (measured latency) is not, so where two candidates
    tie on top-1 at a cut either may go on: the rung sets are checked against the halving rule
    applied to this run's own results, and against the reference wherever no tie decided.
    """
    from hoot.trainer.training.bakeoff import promote, rank
    from hoot.trainer.training.rung_result import RungResult

    complete = [t for t in bake.rung_trials() if t.state == TrialState.COMPLETE]
    keys = [(t.params["candidate"], t.params["rung"]) for t in complete]
    assert len(keys) == len(set(keys)), "a candidate-rung ran twice"
    by_rung: dict[int, dict[str, RungResult]] = {}
    for t in complete:
        by_rung.setdefault(t.params["rung"], {})[t.params["candidate"]] = RungResult.from_dict(t.user_attrs["metrics"])
        ref = reference["results"].get((t.params["candidate"], t.params["rung"]))
        if ref is not None:
            got = t.user_attrs["metrics"]
            assert got["val_top1"] == ref["val_top1"] and got["val_loss"] == pytest.approx(ref["val_loss"], abs=1e-6)
    assert sorted(by_rung[0]) == sorted(CANDIDATES.split(","))
    for r in range(1, len(by_rung)):
        assert sorted(by_rung[r]) == sorted(promote(by_rung[r - 1], 2, "val_top1"))
    last = by_rung[len(by_rung) - 1]
    winner = bake.attrs()["winner"]
    assert winner == rank(last, "val_top1")[0]
    ref_last = {n: m for (n, r), m in reference["results"].items() if r == len(by_rung) - 1}
    ref_best = max(m["val_top1"] for m in ref_last.values())
    if sum(m["val_top1"] == ref_best for m in ref_last.values()) == 1 and sorted(ref_last) == sorted(last):
        assert winner == reference["winner"]


@pytest.mark.postgres
def test_two_hoot_workers_on_postgres_match_the_single_process_run(reference, postgres_url, tmp_path):
    name = f"real{uuid.uuid4().hex[:8]}"
    base = shortlist_args(reference["data"], tmp_path / "out")
    coord = hoot([*base, "--run-id", "coord", "--storage", postgres_url, "--study", name, "--format", "json"], tmp_path, "coord")
    _wait_for_study(postgres_url, name)
    workers = [hoot([*base, "--storage", postgres_url, "--study", name, "--worker"], tmp_path, f"w{i}") for i in (1, 2)]
    finish([coord, *workers], tmp_path)
    bake = st.load(st.open_storage(postgres_url, create=False), name)
    _check_against_reference(bake, reference)
    assert not [t for t in bake.rung_trials() if t.state != TrialState.COMPLETE]
    by_worker = {t.user_attrs["worker"] for t in bake.rung_trials()}
    assert len(by_worker) == 2, f"both workers should have trained rungs, got {by_worker}"
    winner = bake.attrs()["winner"]
    table = json.loads((tmp_path / "coord.out").read_text())
    assert [r["candidate"] for r in table if r["winner"]] == [winner]
    run_dir = tmp_path / "out" / "coord"
    assert (run_dir / "best.pt").is_file() and (run_dir / "report.md").is_file()
    assert json.loads((run_dir / "finetune.json").read_text())["winner"] == winner
    # the candidate trials hold the whole bake-off: one per candidate, a report per rung
    trials = {t.params["candidate"]: t for t in bake.candidate_trials()}
    assert sorted(trials) == sorted(CANDIDATES.split(","))
    assert trials[winner].state == TrialState.COMPLETE
    assert sorted(trials[winner].intermediate_values) == [0, 1]

    status = subprocess.run(processes.hoot_command("shortlist", "--storage", postgres_url,
                             "--study", name, "--status", "--format", "json"), cwd=tmp_path, env=hoot_env(),
                            capture_output=True, text=True, timeout=60)
    rows = {r["candidate"]: r for r in json.loads(status.stdout)}
    assert rows[winner]["state"] == "winner"


@pytest.mark.postgres
def test_killed_hoot_worker_is_recovered_and_the_result_unchanged(reference, postgres_url, tmp_path):
    name = f"kill{uuid.uuid4().hex[:8]}"
    base = shortlist_args(reference["data"], tmp_path / "out")
    coord = hoot([*base, "--run-id", "coord", "--storage", postgres_url, "--study", name], tmp_path, "coord")
    bake = _wait_for_study(postgres_url, name)
    victim = hoot([*base, "--storage", postgres_url, "--study", name, "--worker"], tmp_path, "victim")
    deadline = time.monotonic() + 90
    running = []
    while not running and time.monotonic() < deadline:
        running = bake.rung_trials((TrialState.RUNNING,))
        time.sleep(0.05)
    assert running, "the worker never started a rung"
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    killed = (running[0].params["candidate"], running[0].params["rung"])
    rescuer = hoot([*base, "--storage", postgres_url, "--study", name, "--worker"], tmp_path, "rescuer")
    finish([coord, rescuer], tmp_path)
    bake = st.load(st.open_storage(postgres_url, create=False), name)
    failed = [t for t in bake.rung_trials() if t.state == TrialState.FAIL]
    assert [(t.params["candidate"], t.params["rung"]) for t in failed] == [killed]
    retry = [t for t in bake.rung_trials() if t.system_attrs.get("failed_trial") == failed[0].number]
    assert len(retry) == 1 and retry[0].state == TrialState.COMPLETE
    _check_against_reference(bake, reference)


def test_ddp_finetune_on_two_gloo_processes(reference, tmp_path, capsys):
    """--nproc 2 without --storage: embedded journal study, then torchrun with 2 CPU ranks."""
    args = shortlist_args(reference["data"], tmp_path / "out", "squeezenet1_1,resnet18", "--run-id", "ddp",
                          "--nproc", "2", "--format", "json")
    args[args.index("--full-epochs") + 1] = "2"
    finish([hoot(args, tmp_path, "ddp")], tmp_path, timeout=300)
    run_dir = tmp_path / "out" / "ddp"
    ft = json.loads((run_dir / "finetune.json").read_text())
    assert ft["world_size"] == 2 and ft["backend"] == "gloo"
    assert ft["ranks_agree"] is True and ft["ranks_max_abs_diff"] == 0.0  # each rank's replica scored the same
    assert len(ft["history"]) == 2 and (run_dir / "best.pt").is_file() and (run_dir / "report.md").is_file()
    assert "torch.distributed.run --nproc-per-node=2" in (tmp_path / "ddp.err").read_text()
    journal = run_dir / "study.journal"
    names = st.study_names(st.open_storage(str(journal), create=False))
    assert len(names) == 2  # the bake-off and its work queue

    # a worker started with other settings or other data is refused, and nothing is written
    name = next(n for n in names if not n.endswith(st.RUNGS_SUFFIX))
    size_before = journal.stat().st_size
    for extra, message in ((["--seed", "1"], "settings differ from study"), ([], "images in")):
        worker = shortlist_args(reference["data"], tmp_path / "w", "squeezenet1_1,resnet18", *extra,
                                "--storage", str(journal), "--study", name, "--worker")
        if not extra:
            (reference["data"] / "extra_class_file.txt").write_text("not the coordinator's data")
        try:
            code = main(worker)
        finally:
            (reference["data"] / "extra_class_file.txt").unlink(missing_ok=True)
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and message in err[0], err
    assert journal.stat().st_size == size_before and not (tmp_path / "w").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["shortlist", "--status", "--storage", "sqlite:///{tmp}/none.db", "--study", "s"], "does not exist"),
        (["shortlist", "{data}", "--candidates", "resnet18", "--no-pretrained", "--worker"], "--worker needs"),
        (["shortlist", "{data}", "--candidates", "resnet18", "--no-pretrained", "--storage", "sqlite:///{tmp}/x.db",
          "--study", "nope", "--worker"], "study 'nope' does not exist"),
    ],
)
def test_cli_scaleout_errors_are_one_line(args, message, tmp_path, capsys):
    data = tmp_path / "data" / "a"
    data.mkdir(parents=True)
    (tmp_path / "data" / "b").mkdir()
    args = [a.replace("{tmp}", str(tmp_path)).replace("{data}", str(tmp_path / "data")) for a in args]
    if "x.db" in " ".join(args):
        st.open_storage(f"sqlite:///{tmp_path}/x.db", create=True)
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("hoot: error:") and message in err[0], err


@pytest.mark.postgres
def test_worker_joins_a_two_node_ddp_finetune(reference, postgres_url, tmp_path):
    """--nnodes 2: the coordinator and a worker are the two "machines" (loopback, c10d rendezvous);
    after the bake-off the worker joins the fine-tune as the second node."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    name = f"nodes{uuid.uuid4().hex[:8]}"
    base = shortlist_args(reference["data"], tmp_path / "out", "squeezenet1_1,resnet18", "--nnodes", "2", "--nproc", "1",
                          "--rdzv-endpoint", f"127.0.0.1:{port}")
    coord = hoot([*base, "--run-id", "coord", "--storage", postgres_url, "--study", name], tmp_path, "coord")
    _wait_for_study(postgres_url, name)
    worker = hoot([*base, "--storage", postgres_url, "--study", name, "--worker"], tmp_path, "worker")
    finish([coord, worker], tmp_path, timeout=300)
    attrs = st.load(st.open_storage(postgres_url, create=False), name).attrs()
    result = attrs["finetune_result"]  # written by global rank 0, wherever it ran
    assert result["world_size"] == 2 and result["backend"] == "gloo" and result["ranks_agree"] is True
    assert f"--rdzv-id={name}" in (tmp_path / "worker.err").read_text()
    assert attrs["phase"] == "done"
