"""Fine-tune: checkpoints every epoch, best.pt loads with weights_only, Ctrl-C then --resume continues."""

from __future__ import annotations

import json

import pytest
import torch

import hoot.trainer.training.finetune as ft
from hoot.testing.images import tiny_config
from hoot.trainer.training.bakeoff import prepare
from hoot.trainer.training.finetune import finetune, warmup_cosine
from hoot.trainer.tasks import make_loss
from hoot.trainer.tasks.losses import SoftmaxFocalLoss


def test_warmup_then_cosine():
    lr = warmup_cosine(1.0, warmup_steps=4, total_steps=14)
    assert [round(lr(s), 3) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert lr(4) == pytest.approx(1.0) and lr(9) == pytest.approx(0.5) and lr(14) == pytest.approx(0.0, abs=1e-9)


def test_focal_loss_downweights_easy_examples():
    logits = torch.tensor([[4.0, 0.0], [0.2, 0.0]])
    target = torch.tensor([0, 0])
    focal, ce = SoftmaxFocalLoss(gamma=2.0), make_loss("classification")
    easy_ratio = focal(logits[:1], target[:1]) / ce(logits[:1], target[:1])
    hard_ratio = focal(logits[1:], target[1:]) / ce(logits[1:], target[1:])
    assert easy_ratio < 0.01 < hard_ratio
    assert isinstance(make_loss("classification", focal=True), SoftmaxFocalLoss)


def test_finetune_checkpoints_interrupt_and_resume(shapes, tmp_path, monkeypatch):
    cfg = tiny_config(shapes, tmp_path, full_epochs=3, patience=10, candidates=["squeezenet1_1"])
    ctx = prepare(cfg, progress=False)
    calls = {"n": 0}
    real = ft.train_batch

    def interrupt_in_epoch_2(*a, **k):
        calls["n"] += 1
        if calls["n"] == 6:  # 4 steps per epoch: the 2nd step of epoch 2
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(ft, "train_batch", interrupt_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        finetune(ctx, "squeezenet1_1")
    last = torch.load(ctx.run_dir / "last.pt", weights_only=True)
    assert last["epoch"] == 0 and len(json.loads(last["history_json"])) == 1
    best = torch.load(ctx.run_dir / "best.pt", weights_only=True)
    assert best["variant"] == "squeezenet1_1" and best["classes"] == ctx.classes and best["image_size"] == 32
    monkeypatch.setattr(ft, "train_batch", real)
    out = finetune(prepare(cfg, progress=False), "squeezenet1_1")
    assert out["started_from"] == "last.pt (epoch 1)"
    assert [h["epoch"] for h in out["history"]] == [1, 2, 3]
    assert out["epochs_run"] == 3 and 0.0 <= out["final"]["val_top1"] <= 1.0
    assert len(out["final"]["confusion_matrix"]) == 3
    assert torch.load(ctx.run_dir / "last.pt", weights_only=True)["epoch"] == 2


def test_early_stopping_stops_after_patience(shapes, tmp_path, monkeypatch):
    cfg = tiny_config(shapes, tmp_path, full_epochs=6, patience=1, lr=1e-9)
    values = iter([0.3, 0.5, 0.4, 0.4, 0.4, 0.4, 0.4])  # first: the starting checkpoint, evaluated before epoch 1
    real_eval = ft.evaluate

    def flat_metric(*a, **k):
        m = real_eval(*a, **k)
        m["val_top1"] = next(values, 0.4)
        return m

    monkeypatch.setattr(ft, "evaluate", flat_metric)
    out = finetune(prepare(cfg, progress=False), "mobilenet_v3_small")
    assert out["stopped_early"] and out["epochs_run"] == 2 and out["best_epoch"] == 1  # one epoch without improvement


def test_finetune_never_hands_back_a_model_worse_than_its_start(shapes, tmp_path, monkeypatch):
    """Every epoch scores below the starting checkpoint: best.pt stays the start, and says so."""
    cfg = tiny_config(shapes, tmp_path, full_epochs=2, patience=5)
    values = iter([0.9, 0.5, 0.6])  # start, epoch 1, epoch 2
    real_eval = ft.evaluate

    def worse_epochs(*a, **k):
        m = real_eval(*a, **k)
        m["val_top1"] = next(values, m["val_top1"])
        return m

    monkeypatch.setattr(ft, "evaluate", worse_epochs)
    ctx = prepare(cfg, progress=False)
    out = finetune(ctx, "mobilenet_v3_small")
    assert out["kept"] == "starting checkpoint" and out["best_epoch"] == 0 and out["start_value"] == 0.9
    assert torch.load(ctx.run_dir / "best.pt", weights_only=True)["epoch"] == 0
    assert "test_top1" in out["test"] and out["test_images"] == len(ctx.test) > 0
    assert out["reported_on"] == "test" and out["selected_on"] == "validation"


def test_per_group_learning_rates_follow_the_strategy():
    from hoot.trainer.training.strategy import make_optimizer, resolve_recipe
    from hoot.bench.models import build_model

    top = resolve_recipe("top", True, 2000, "adamw", None)
    assert (top.lr, top.head_lr) == (1e-4, 1e-3) and top.group_rates() == {"backbone": 1e-4, "head": 1e-3}
    frozen = resolve_recipe("frozen", True, 200, "sgd", None)
    assert frozen.group_rates() == {"head": 1e-2}
    model = build_model("mobilenet_v3_small", num_classes=3, pretrained=False)
    opt = make_optimizer(model, "adamw", top.lr, 0.05, head_lr=top.head_lr)
    rates = {g["group"]: g["lr"] for g in opt.param_groups}
    assert rates == {"backbone": 1e-4, "head": pytest.approx(1e-3)}
    head_params = {id(p) for n, p in model.named_parameters() if n.startswith(tuple(model.hoot_head_names))}
    assert all(id(p) in head_params for g in opt.param_groups if g["group"] == "head" for p in g["params"])


def test_last_pt_holds_only_what_a_resume_needs(shapes, tmp_path):
    """Frozen layers come back from the starting checkpoint: last.pt keeps trainable weights and buffers."""
    from hoot.trainer.training.finetune import resume_state_dict

    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2))
    model[0].weight.requires_grad_(False)
    kept = resume_state_dict(model)
    assert "0.weight" not in kept and {"0.bias", "1.running_mean", "2.weight"} <= set(kept)


def test_kill_during_a_checkpoint_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    from hoot.advisor.errors import HootError
    from hoot.trainer import runfiles

    target = tmp_path / "best.pt"
    runfiles.atomic_torch_save({"v": 1}, target)

    def killed(obj, fh):
        fh.write(b"half")
        raise KeyboardInterrupt  # stands in for the process dying mid-write

    monkeypatch.setattr(torch, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        runfiles.atomic_torch_save({"v": 2}, target)
    monkeypatch.undo()
    assert torch.load(target, weights_only=True) == {"v": 1} and list(tmp_path.iterdir()) == [target]
    (tmp_path / ".best.pt.123.tmp").write_bytes(b"half")  # what a real kill -9 leaves
    assert runfiles.remove_stale_temporaries(tmp_path) and list(tmp_path.iterdir()) == [target]
    import pathlib

    torch.save({"x": pathlib.Path("/")}, tmp_path / "evil.pt")
    with pytest.raises(HootError, match="refused to load .*evil.pt.*would run code"):
        runfiles.load_checkpoint(tmp_path / "evil.pt")


def test_run_splits_gives_the_run_its_three_splits_back(shapes, tmp_path):
    from hoot.trainer.training.context import run_splits

    ctx = prepare(tiny_config(shapes, tmp_path), progress=False)
    splits = run_splits(ctx.run_dir)
    assert [s.path for s in splits.test] == [s.path for s in ctx.scan.test] and len(splits.val) == len(ctx.val)
    (ctx.run_dir / "splits.json").unlink()  # rebuilt from config.json, the same
    again = run_splits(ctx.run_dir)
    assert [s.path for s in again.test] == [s.path for s in splits.test] and again.classes == splits.classes


def test_the_batch_size_probe_optimiser_holds_the_runs_state_but_moves_no_weight():
    """On a GPU the fine-tune's batch is probed with real steps: the probe's optimiser must be the
    run's kind (AdamW's two state buffers per parameter count against memory) at learning rate 0."""
    import torch

    from hoot.trainer.training.finetune import batch_probe_optimizer

    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    before = [p.detach().clone() for p in model.parameters()]
    opt = batch_probe_optimizer(model, "adamw")
    assert isinstance(opt, torch.optim.AdamW)
    model(torch.randn(8, 4)).sum().backward()
    opt.step()
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert all("exp_avg_sq" in opt.state[p] for p in model.parameters())
    assert isinstance(batch_probe_optimizer(model, "sgd"), torch.optim.SGD)
