"""Train-time branches are folded before anything is timed or shipped (MobileOne, RepViT, FastViT,
LeViT, EfficientViT-M): `hoot bench` inference rows, and every run `load_trained` gives to export,
predict and optimize, use the network as it is deployed. Training keeps the branches."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hoot.bench.models import build_model, deploy_form, deployable

pytest.importorskip("timm")


def _warmed(name: str) -> nn.Module:
    """A from-scratch build whose BatchNorm statistics are no longer the identity (folding uses them)."""
    torch.manual_seed(0)
    model = build_model(name, num_classes=3)
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(4, 3, 32, 32))
    return model.eval()


def _batchnorms(model: nn.Module) -> int:
    return sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())


@pytest.mark.parametrize("name", ["mobileone_s1", "repvit_m0_9"])
def test_a_timm_model_with_branches_ships_folded_with_the_same_outputs(name):
    model = _warmed(name)
    before = _batchnorms(model)
    shipped = deployable(model)
    assert shipped is not model and _batchnorms(model) == before  # the caller's model still trains
    assert _batchnorms(shipped) < before
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected, got = model(x), shipped(x)
    scale = expected.abs().max().item()
    assert torch.allclose(got, expected, atol=1e-4 * max(scale, 1.0), rtol=1e-4)
    assert shipped.hoot_variant == name and shipped.hoot_source == "timm"  # the record of what it is survives
    assert deploy_form(model) == "folded"  # what a bench row records


def test_a_model_with_nothing_to_fold_is_the_same_object():
    for name in ("resnet18", "lcnet_050"):
        model = build_model(name, num_classes=3).eval()
        assert deployable(model) is model and deploy_form(model) == "as_built"


def test_a_model_hoot_did_not_build_is_taken_as_it_is():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    assert deployable(model) is model and deploy_form(model) == "as_built"


@pytest.mark.parametrize("pairs", [(("inference", 1),), (("train", 2), ("inference", 1))])
def test_bench_times_inference_folded_and_training_with_branches(monkeypatch, pairs):
    import hoot.bench.worker as worker
    from hoot.bench.jobs import BenchJob, RowMessage

    seen: dict[str, nn.Module] = {}

    def inference_call(job, model, runnable, batch, device, folder):
        seen["inference"] = runnable
        return (lambda: None), worker.inference_context(device, job.dtype), worker.CPUTimer(), {}

    class Trainer:
        def __init__(self, model, *args):
            seen["train"] = model

        def prepare(self, batch):
            pass

        def step(self):
            pass

        def cleanup(self):
            pass

    monkeypatch.setattr(worker, "_inference_call", inference_call)
    monkeypatch.setattr(worker, "Trainer", Trainer)
    job = BenchJob(hardware_id="test-cpu-00000000", variant="mobileone_s1", family="MobileOne", task="classification",
                   device="cpu", dtype="fp32", input_size=32, native_input=False, threads=1, channels_last=False,
                   runtime="eager", quick=True, pairs=pairs, known_figures={"gmacs": 0.1, "gflops": 0.2})
    rows: list = []
    worker.run_job(job, lambda message: rows.append(message.measurement) if isinstance(message, RowMessage) else None)
    assert _batchnorms(seen["inference"]) == 0  # every MobileOne block folded into one convolution
    if "train" in seen:
        assert _batchnorms(seen["train"]) > 0
    # each row says which form it timed (schema version 4; tests/bench_tests/test_deploy_form.py)
    assert {r.key.mode: r.extra.get("deploy_form") for r in rows} == {
        mode: "folded" if mode == "inference" else "as_built" for mode, _ in pairs}


def test_a_trained_run_exports_its_folded_form(tmp_path, monkeypatch):
    """A MobileOne run from `hoot shortlist` loads folded; `hoot export` writes that form and
    onnxruntime agrees with it (export's own check); its training checkpoint keeps the branches."""
    pytest.importorskip("onnxruntime")
    import onnx

    from hoot.cli.main import main
    from hoot.testing.images import make_imagefolder
    from hoot.trainer.deploy.trained import load_trained
    from hoot.trainer.runfiles import load_checkpoint

    data = make_imagefolder(tmp_path / "shapes", per_class=8, size=32)
    monkeypatch.setenv("HOOT_DATA_DIR", str(tmp_path / "hoot"))
    args = ["shortlist", str(data), "--candidates", "mobileone_s1", "--no-pretrained", "--steps", "2",
            "--batch-size", "8", "--image-size", "32", "--full-epochs", "1", "--threads", "2",
            "--output", str(tmp_path / "reports"), "--run-id", "m1", "--format", "json"]
    assert main(args) == 0
    run = tmp_path / "reports" / "m1"
    assert any(".conv_kxk." in k for k in load_checkpoint(run / "best.pt")["model"])  # trained with branches
    model, _ = load_trained(run)
    assert _batchnorms(model) == 0
    assert main(["export", str(run), "--out", str(tmp_path / "m.onnx")]) == 0
    ops = [n.op_type for n in onnx.load(str(tmp_path / "m.onnx")).graph.node]
    assert "BatchNormalization" not in ops and ops.count("Conv") == sum(isinstance(m, nn.Conv2d) for m in model.modules())


def test_the_bake_off_latency_times_the_folded_form_and_training_goes_on(monkeypatch):
    import hoot.bench.measure as measure
    from hoot.trainer.training.loop import measure_latency

    model = build_model("mobileone_s1", num_classes=3).train()
    ran_batchnorm = []
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.register_forward_hook(lambda *args: ran_batchnorm.append(1))
    monkeypatch.setattr(measure, "measure_call", lambda fn, *args, **kw: fn())
    measure_latency(model, 32, torch.device("cpu"))
    assert not ran_batchnorm  # the timed network had no BatchNorm left: it was the folded copy
    assert model.training and _batchnorms(model) == 99  # the model in training is as it was
