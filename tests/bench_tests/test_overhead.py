"""What a model costs outside its timed work (issue 9, part 3), and that cutting it kept the figures.

The parent never imports torch, the fork server is stopped rather than left to finalise
torch, FLOPs are counted on the timed model moved to the meta device (equal to a fresh
count), fvcore runs only when asked, and the child reports where each job's time went.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

from hoot.advisor.catalog import load_catalog
from hoot.bench.flops import count_flops, gmacs_on_meta
from hoot.bench.jobs import BenchJob
from hoot.bench.models import build_model
from hoot.bench.phases import Phases, log_phases, parse_phases
from hoot.bench.runner import RunOptions, _known_figures, plan_jobs, run_jobs
from hoot.bench.store import ResultStore
from hoot.bench.worker import FVCORE_NOT_ASKED, _flop_figures, make_input, software

HW = "test-cpu-00000000"


def _job(variant: str = "squeezenet1_1", size: int = 64, **over) -> BenchJob:
    fields = dict(hardware_id=HW, variant=variant, family=None, task="classification", device="cpu", dtype="fp32",
                  input_size=size, native_input=False, threads=1, channels_last=False, runtime="eager", quick=True,
                  pairs=(("inference", 1),))
    return BenchJob(**{**fields, **over})


def test_versions_sent_to_the_parent_are_plain_strings():
    # torch.__version__ is a TorchVersion: unpickling one in the parent imports all of torch there
    assert type(torch.__version__) is not str
    for key, value in software().items():
        assert value is None or type(value) is str, (key, type(value))


def test_the_parent_never_imports_torch(tmp_path, fake_builder):
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent(f"""
        import json, sys
        from hoot.advisor.catalog import load_catalog
        from hoot.bench.child import WarmChild
        from hoot.bench.runner import RunOptions, plan_jobs, probe_torch, run_jobs
        from hoot.bench.store import ResultStore

        if __name__ == "__main__":
            settings = RunOptions(device="cpu", threads=1, quick=True, input_size=32)
            with WarmChild() as child, ResultStore(sys.argv[1]) as store:
                probe = probe_torch(child)
                jobs, _, _ = plan_jobs([load_catalog().get("resnet18")], settings, "{HW}", store,
                                       builder="{fake_builder}")
                rows = run_jobs(jobs, store, "{HW}", progress=False, child=child)
                stored = store.rows()
            heavy = sorted(m for m in ("torch", "torchvision", "numpy") if m in sys.modules)
            print(json.dumps({{"status": rows[0]["status"], "stored": stored[0]["torch_version"],
                              "probe": probe["torch_version"], "heavy": heavy}}))
    """))
    out = subprocess.run([sys.executable, str(script), str(tmp_path / "db.sqlite")], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["status"] == "ok" and found["stored"] == found["probe"] == str(torch.__version__)
    assert found["heavy"] == []  # before: torch (TorchVersion in every row and the probe), ~2-7 s and 1-2 s at exit


def test_flops_on_the_timed_model_moved_to_meta_equal_a_fresh_count():
    build = lambda: build_model("squeezenet1_1")  # noqa: E731
    model = build().eval()
    phases = Phases()
    figures = _flop_figures(_job(), build, model, torch.device("cpu"), phases)
    fresh = count_flops(build().eval(), torch.randn(1, 3, 64, 64)) / 2e9
    assert figures["gmacs"] == pytest.approx(fresh, rel=1e-12) and figures["gflops"] == 2 * figures["gmacs"]
    assert figures["gmacs"] == pytest.approx(gmacs_on_meta(build, lambda d: make_input("classification", 1, 64, d)),
                                             rel=1e-12)
    assert next(model.parameters()).is_meta  # no second build: the timed model itself was counted
    assert figures["fvcore_unsupported"] == FVCORE_NOT_ASKED and "gmacs_fvcore" not in figures
    assert "flops" in phases.seconds and "fvcore" not in phases.seconds


class NeedsRealTensors(nn.Module):
    """A forward pass that reads a value, as detection models do: it cannot run on meta."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        y = self.conv(x)
        return y * 2 if float(y.abs().sum()) >= 0 else y


def test_flops_fall_back_to_a_real_copy_when_meta_fails():
    built = []

    def build():
        built.append(1)
        return NeedsRealTensors()

    figures = _flop_figures(_job(size=16), build, NeedsRealTensors().eval(), torch.device("cpu"), Phases())
    expected = count_flops(NeedsRealTensors().eval(), torch.randn(1, 3, 16, 16)) / 2e9
    assert built == [1] and expected > 0 and figures["gmacs"] == pytest.approx(expected, rel=1e-12)


def test_fvcore_runs_only_when_asked():
    pytest.importorskip("fvcore")
    build = lambda: build_model("squeezenet1_1")  # noqa: E731
    phases = Phases()
    figures = _flop_figures(_job(fvcore=True), build, build().eval(), torch.device("cpu"), phases)
    assert figures["gmacs_fvcore"] == pytest.approx(figures["gmacs"], rel=0.05) and "fvcore" in phases.seconds
    assert RunOptions(device="cpu").fvcore is False  # the default run does not trace


def test_an_earlier_fvcore_cross_check_is_kept_when_a_later_run_skipped_it(db, row):
    with ResultStore(db) as store:
        store.add(row(variant="resnet18", input_size=224, gmacs=1.814, gflops=3.628, gmacs_fvcore=1.82,
                      fvcore_unsupported="aten::add_x8", measured_at="2026-01-01T00:00:00Z"))
        store.add(row(variant="resnet18", input_size=224, batch_size=2, gmacs=1.814, gflops=3.628,
                      fvcore_unsupported=FVCORE_NOT_ASKED, measured_at="2026-01-02T00:00:00Z"))
        figures = _known_figures(store, "resnet18", 224)
    assert figures == {"gmacs": 1.814, "gflops": 3.628, "gmacs_fvcore": 1.82, "fvcore_unsupported": "aten::add_x8"}


def test_each_job_reports_where_its_time_went(db, fake_builder, caplog):
    from hoot.bench.child import WarmChild

    settings = RunOptions(device="cpu", threads=1, quick=True, input_size=32, batch_sizes=(1, 2))
    caplog.set_level(logging.DEBUG, logger="hoot.bench.runner")
    with ResultStore(db) as store, WarmChild() as child:
        jobs, _, _ = plan_jobs([load_catalog().get("resnet18")], settings, HW, store, builder=fake_builder)
        rows = run_jobs(jobs, store, HW, progress=False, child=child)
        reported = child.last_phases
    seconds, counts = reported["seconds"], reported["counts"]
    for phase in ("build", "setup", "warmup", "timed", "memory", "flops", "job", "trim"):
        assert seconds[phase] >= 0, phase
    assert counts["iterations"] == sum(r["iterations"] for r in rows)  # both settings
    assert counts["warmup_iters"] >= 2 * 2  # --quick warms up at least twice per setting
    assert seconds["timed"] == pytest.approx(sum(r["timed_s"] for r in rows), rel=1e-3, abs=1e-3)
    records = parse_phases(m.getMessage() for m in caplog.records)
    assert [r["variant"] for r in records if r["scope"] == "job"] == ["resnet18"]
    job = records[0]
    assert job["child"] == reported and job["parent"]["seconds"]["child_round_trip"] >= seconds["job"]


def test_phases_are_logged_only_at_debug(caplog):
    log = logging.getLogger("hoot.bench.test_phases")
    caplog.set_level(logging.INFO, logger="hoot.bench.test_phases")
    log_phases(log, "cli", {"seconds": {"probe": 1.0}})
    assert not caplog.records
    caplog.set_level(logging.DEBUG, logger="hoot.bench.test_phases")
    log_phases(log, "cli", {"seconds": {"probe": 1.0}})
    assert parse_phases([f"hoot: {caplog.records[0].getMessage()}"])[0]["seconds"] == {"probe": 1.0}


def test_the_fork_server_is_stopped_and_a_later_child_starts_a_new_one():
    import os

    from multiprocessing import forkserver

    from hoot.bench.child import WarmChild, stop_fork_server

    with WarmChild() as child:
        assert child.probe()["torch_version"]
    pid = forkserver._forkserver._forkserver_pid
    assert pid is not None
    assert stop_fork_server() is True
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # gone and reaped
    assert stop_fork_server() is False
    with WarmChild() as child:  # isolation still works after: a new server, a new child
        assert child.probe()["torch_version"]


def test_models_are_built_on_the_device_they_run_on():
    from hoot.bench.worker import build_on

    # "meta" stands in for a GPU here: anything but the CPU builds under the device context
    assert next(build_on(torch.device("meta"), lambda: nn.Linear(4, 4)).parameters()).is_meta
    assert not next(build_on(torch.device("cpu"), lambda: nn.Linear(4, 4)).parameters()).is_meta
    tries = []

    def cpu_only():
        tries.append(str(torch.empty(0).device))
        if torch.empty(0).device.type != "cpu":
            raise RuntimeError("this builder makes CPU tensors only")
        return nn.Linear(4, 4)

    model = build_on(torch.device("meta"), cpu_only)  # falls back to the CPU; the caller moves it
    assert tries == ["meta", "cpu"] and not next(model.parameters()).is_meta

    def oom():
        raise torch.OutOfMemoryError("CUDA out of memory (fake)")

    with pytest.raises(torch.OutOfMemoryError):
        build_on(torch.device("meta"), oom)
