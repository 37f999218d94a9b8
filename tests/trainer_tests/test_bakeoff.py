"""The bake-off: cache size, determinism, resume equivalence, halving rule, BN re-estimation."""

from __future__ import annotations

import numpy as np
import pytest

from hoot.testing.images import tiny_config
from hoot.trainer.training.bakeoff import BakeoffResult, planned_rungs, prepare, promote, rank, run_bakeoff, train_rung
from hoot.trainer.config import ShortlistConfig
from hoot.trainer.training.rung_result import RungResult


def test_cache_is_uint8_within_budget_and_memory_mappable(shapes, tmp_path):
    ctx = prepare(tiny_config(shapes, tmp_path, image_size=32), progress=False)
    n = len(ctx.train) + len(ctx.val) + len(ctx.test)
    assert ctx.train.images.dtype == np.uint8 and ctx.train.images.shape[1:] == (3, 32, 32)
    files = list((ctx.run_dir / "cache").glob("*_images.npy"))
    on_disk = sum(f.stat().st_size for f in files)
    assert ctx.train.nbytes + ctx.val.nbytes + ctx.test.nbytes == n * 3 * 32 * 32
    assert on_disk <= 1.1 * n * 3 * 32 * 32
    mm = np.load(ctx.run_dir / "cache" / "train_images.npy", mmap_mode="r")
    assert isinstance(mm, np.memmap) and np.array_equal(mm[:2], ctx.train.images[:2])
    again = prepare(tiny_config(shapes, tmp_path, image_size=32), progress=False)  # reused, not re-decoded
    assert np.array_equal(again.train.images, ctx.train.images)


def test_default_image_size_is_min_of_native_and_median(shapes, tmp_path):
    cfg = tiny_config(shapes, tmp_path, image_size=None)
    ctx = prepare(cfg, progress=False)
    assert ctx.image_size == 40  # images are 40 px; mobilenet_v3_small's native size is 224
    # the config is not changed as it travels (issue 8; it used to be set to 40): the resolved size is the context's
    assert cfg.image_size is None and ShortlistConfig.load(ctx.run_dir / "config.json").image_size is None
    import json

    assert json.loads((ctx.run_dir / "dataset.json").read_text())["image_size"] == 40
    resolved = json.loads((ctx.run_dir / "config.json").read_text())["resolved"]
    assert resolved["image_size"] == 40 and resolved["lr_groups"] == {"all": 1e-3}  # from scratch: one group


def test_config_is_frozen_and_validated_once(tmp_path):
    import dataclasses

    from hoot.advisor.errors import HootError

    cfg = tiny_config(tmp_path, tmp_path)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.image_size = 64
    for field, value, message in [("epochs", float("nan"), "--epochs 'nan' is not a finite number"),
                                  ("num_threads", 0, "--threads '0' must be at least 1"),
                                  ("patience", -1, "--patience '-1' must be at least 0"),
                                  ("test_fraction", 0.0, "--test-fraction"),
                                  ("budget_seconds", float("inf"), "--budget-seconds")]:
        with pytest.raises(HootError, match=message):
            dataclasses.replace(cfg, **{field: value})


def test_config_round_trips_through_json(tmp_path):
    cfg = tiny_config(tmp_path, tmp_path, candidates=["a", "b"], focal=True, budget_seconds=3.5)
    assert ShortlistConfig.from_json(cfg.to_json()) == cfg


def test_same_seed_same_bakeoff_metrics_and_resume_matches_scratch(shapes, tmp_path):
    r1 = train_rung(prepare(tiny_config(shapes, tmp_path, run_id="a"), progress=False), "squeezenet1_1", 0)
    r2 = train_rung(prepare(tiny_config(shapes, tmp_path, run_id="b"), progress=False), "squeezenet1_1", 0)
    assert isinstance(r1, RungResult) and r1.ok and r1.candidate == "squeezenet1_1" and r1.rung == 0
    assert r1.metrics == r2.metrics and r1.train_loss_last == r2.train_loss_last and r1.steps == r2.steps
    # rung 1 resumed from rung 0's checkpoint == rung 1 trained from scratch in a fresh run folder
    ctx_a = prepare(tiny_config(shapes, tmp_path, run_id="a"), progress=False)
    resumed = train_rung(ctx_a, "squeezenet1_1", 1)
    scratch = train_rung(prepare(tiny_config(shapes, tmp_path, run_id="c"), progress=False), "squeezenet1_1", 1)
    assert resumed.resumed_from_step == 3 and scratch.resumed_from_step == 0
    assert resumed.steps == scratch.steps == 6
    assert resumed.metric("val_loss") == pytest.approx(scratch.metric("val_loss"), rel=1e-5)
    other = train_rung(prepare(tiny_config(shapes, tmp_path, run_id="d", seed=5), progress=False), "squeezenet1_1", 0)
    assert other.train_loss_last != r1.train_loss_last


def _r(metric, latency, status="ok", source="measured now (cpu, 32 px, batch 1, 2 threads)", name="x", rung=0):
    if status == "error":
        return RungResult.failed(name, rung, "RuntimeError: out of memory")
    return RungResult(name, rung, latency_ms=latency, latency_source=source, metrics={"val_top1": metric})


def test_promote_is_synchronous_halving_with_latency_tie_break():
    results = {"a": _r(0.9, 5.0), "b": _r(0.9, 2.0), "c": _r(0.5, 1.0), "d": _r(0.95, 9.0, "error")}
    assert rank(results, "val_top1")[:3] == ["b", "a", "c"]
    assert promote(results, 2, "val_top1") == ["b", "a"]
    assert promote(results, 4, "val_top1") == ["b"]
    assert promote({"x": _r(0.1, 1.0, "error")}, 2, "val_top1") == []
    assert planned_rungs(4, 2, None) == 2 and planned_rungs(2, 2, None) == 1 and planned_rungs(9, 3, None) == 2
    assert planned_rungs(8, 2, None) == 3


def test_latency_breaks_ties_only_at_one_setting_and_loss_ranks_lowest_first():
    mixed = {"a": _r(0.9, 5.0), "b": _r(0.9, 2.0, source="hoot bench (cpu, 224 px)")}
    assert rank(mixed, "val_top1") == ["a", "b"]  # two settings: the tie goes by name, not a mixed latency
    losses = {"a": RungResult("a", 0, metrics={"val_loss": 0.9}), "b": RungResult("b", 0, metrics={"val_loss": 0.2})}
    assert rank(losses, "val_loss") == ["b", "a"]  # Metric: a loss is minimised


def test_table_ranks_by_score_not_by_rung_reached():
    rungs = [{"a": _r(0.6, 1.0, name="a"), "b": _r(0.9, 1.0, name="b"), "c": _r(0.5, 1.0, name="c")},
             {"a": _r(0.7, 1.0, name="a", rung=1), "c": _r(0.65, 1.0, name="c", rung=1)}]
    table = BakeoffResult(rungs, "a", "val_top1", ["a", "b", "c"]).table()
    assert [r["candidate"] for r in table] == ["b", "a", "c"] and [r["rung"] for r in table] == [0, 1, 1]


def test_every_latency_is_measured_at_the_training_size(shapes, tmp_path):
    ctx = prepare(tiny_config(shapes, tmp_path), progress=False)
    r = train_rung(ctx, "squeezenet1_1", 0)
    assert r.latency_source.startswith("measured now (cpu, 32 px, batch 1")


def test_run_bakeoff_halves_with_an_executor_and_saves_each_rung(shapes, tmp_path):
    ctx = prepare(tiny_config(shapes, tmp_path, candidates=["mobilenet_v3_small", "squeezenet1_1",
                                                  "shufflenet_v2_x0_5", "resnet18"]), progress=False)
    calls = []
    scores = {"mobilenet_v3_small": 0.5, "squeezenet1_1": 0.7, "shufflenet_v2_x0_5": 0.7, "resnet18": 0.2}

    def executor(c, candidates, rung):
        calls.append((rung, sorted(candidates)))
        return {n: RungResult(n, rung, latency_ms={"squeezenet1_1": 1.0}.get(n, 3.0),
                              metrics={"val_top1": scores[n] + rung * (0.1 if n == "shufflenet_v2_x0_5" else 0), "val_loss": 1.0})
                for n in candidates}

    result = run_bakeoff(ctx, executor)
    assert calls == [(0, sorted(scores)), (1, ["shufflenet_v2_x0_5", "squeezenet1_1"])]
    assert result.winner == "shufflenet_v2_x0_5"
    table = result.table()
    assert [r["candidate"] for r in table][:2] == ["shufflenet_v2_x0_5", "squeezenet1_1"] and table[0]["winner"]
    calls.clear()
    assert run_bakeoff(ctx, executor).winner == "shufflenet_v2_x0_5" and calls == []  # saved rungs reused
    assert isinstance(result, BakeoffResult) and result.to_dict()["rungs"][0]["resnet18"]["val_top1"] == 0.2


def test_bn_reestimation_fixes_the_short_run_artifact(shapes_big, tmp_path, monkeypatch):
    """mobilenet_v3_small (BN momentum 0.01) after 20 steps: eval near chance without re-estimation."""
    cfg = dict(steps=20, batch_size=16, candidates=["mobilenet_v3_small"])
    with_bn = train_rung(prepare(tiny_config(shapes_big, tmp_path, run_id="with", **cfg), progress=False), "mobilenet_v3_small", 0)
    import hoot.trainer.training.rung as rung

    monkeypatch.setattr(rung, "recalibrate_bn", lambda *a, **k: 0)
    without = train_rung(prepare(tiny_config(shapes_big, tmp_path, run_id="without", **cfg), progress=False), "mobilenet_v3_small", 0)
    chance = 1 / 3
    assert without.metric("val_top1") <= chance + 0.1, without
    assert with_bn.metric("val_top1") >= chance + 0.25, with_bn
    assert with_bn.bn_recalibration_images > 0 and without.bn_recalibration_images == 0


def test_augment_flip_by_mirrored_box_equals_flipping_the_crop():
    import torch
    from torchvision.ops import roi_align

    from hoot.trainer.data.pipeline import augment

    x = torch.rand(16, 3, 24, 24)
    out = augment(x, torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    from hoot.trainer.data.pipeline import random_crop_boxes

    boxes = random_crop_boxes(16, 24, g)
    flip = torch.rand(16, generator=g) < 0.5
    assert 0 < int(flip.sum()) < 16
    rois = torch.cat([torch.arange(16.0).unsqueeze(1), boxes], dim=1)
    plain = roi_align(x, rois, (24, 24), 1.0, 1, True)
    expected = torch.where(flip.view(-1, 1, 1, 1), plain.flip(-1), plain)
    assert torch.allclose(out, expected, atol=1e-5)
    assert out.shape == x.shape and not torch.equal(out, x)


def test_constant_output_is_flagged_by_logit_spread(shapes, tmp_path):
    import torch

    from hoot.trainer.training.loop import evaluate
    from hoot.trainer.tasks import make_loss

    ctx = prepare(tiny_config(shapes, tmp_path), progress=False)

    class Constant(torch.nn.Module):
        def forward(self, x):
            return torch.zeros(len(x), 3)

    m = evaluate(Constant(), ctx.val, ctx.normalizer("mobilenet_v3_small"), ctx.device, 8, "classification",
                 make_loss("classification"))
    assert m["val_logit_spread"] == 0.0 and abs(m["val_loss"] - np.log(3)) < 1e-6
    lin = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 3))
    assert evaluate(lin, ctx.val, ctx.normalizer("mobilenet_v3_small"), ctx.device, 8, "classification",
                    make_loss("classification"))["val_logit_spread"] > 1e-3
