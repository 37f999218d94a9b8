"""Fine-tune: checkpoints every epoch, best.pt loads with weights_only, Ctrl-C then --resume continues."""

from __future__ import annotations

import json

import pytest
import torch

import hoot.trainer.finetune as ft
from hoot.testing.images import tiny_config
from hoot.trainer.bakeoff import prepare
from hoot.trainer.finetune import finetune, warmup_cosine
from hoot.trainer.losses import SoftmaxFocalLoss, make_loss


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
