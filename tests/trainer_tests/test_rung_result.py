"""RungResult: the typed record of one rung, its flat JSON shape, and reading what older runs wrote."""

from __future__ import annotations

import json
import math

import pytest

from hoot.testing.images import tiny_config
from hoot.trainer.training.bakeoff import BakeoffResult, prepare, promote, rank, run_bakeoff
from hoot.trainer.training.rung_result import RungResult

#: one rung as hoot.trainer.training.rung.train_rung returned it as a dict (before RungResult), key for key
OLD_OK = {
    "candidate": "squeezenet1_1", "rung": 0, "status": "ok", "error": None, "steps": 3, "epochs_seen": 0.5,
    "images_seen": 24, "train_seconds": 0.41, "train_images_per_s": 58.5, "train_loss_last": 1.09,
    "latency_ms": 1.7, "latency_source": "measured now (cpu, 32 px, batch 1, 2 threads)", "params": 723_522,
    "trainable_params": 723_522, "strategy": "full", "lr": 0.001, "head_lr": 0.001, "bn_recalibration_images": 0,
    "resumed_from_step": 0, "precision": "fp32", "channels_last": False, "grad_scaler": False,
    "precision_source": "default on cpu", "probe_images_per_s": {}, "compile": "off", "compile_source": "off",
    "compile_seconds": None, "eager_step_s": None, "compiled_step_s": None, "compile_run_steps": None,
    "val_top1": 0.5, "val_macro_f1": 0.41, "val_loss": 1.05, "val_logit_spread": 0.02,
}


def test_round_trip_keeps_the_flat_json_shape():
    r = RungResult.from_dict(OLD_OK)
    assert r.ok and r.candidate == "squeezenet1_1" and r.latency_ms == 1.7 and r.precision == "fp32"
    assert r.metrics == {"val_top1": 0.5, "val_macro_f1": 0.41, "val_loss": 1.05, "val_logit_spread": 0.02}
    assert r.metric("val_top1") == 0.5 and r.metric("val_f1") is None and r.extra == {}
    flat = r.to_dict()
    assert flat == OLD_OK  # the same keys and values bakeoff.json always held
    assert RungResult.from_dict(json.loads(json.dumps(flat))) == r
    with pytest.raises(Exception):  # frozen
        r.status = "error"  # type: ignore[misc]


def test_multilabel_metrics_and_the_metric_accessor():
    r = RungResult("resnet18", 1, metrics={"val_f1": 0.6, "val_map": 0.7, "val_loss": 0.3})
    assert r.metric("val_f1") == 0.6 and r.metric("val_map") == 0.7 and r.metric("val_top1") is None
    assert promote({"a": r, "b": RungResult("b", 1, metrics={"val_f1": 0.9})}, 2, "val_f1") == ["b"]
    assert r.to_dict()["val_map"] == 0.7 and "metrics" not in r.to_dict()


def test_failed_result_and_validation():
    bad = RungResult.failed("resnet18", 2, "RuntimeError: CUDA out of memory")
    assert not bad.ok and bad.error.startswith("RuntimeError") and bad.metric("val_top1") is None
    assert RungResult.from_dict(bad.to_dict()) == bad
    good = RungResult("a", 2, metrics={"val_top1": 0.1})
    assert rank({"bad": bad, "good": good}, "val_top1") == ["good", "bad"] and promote({"bad": bad}, 2, "val_top1") == []
    for kwargs, message in [(dict(candidate="", rung=0), "candidate name"),
                            (dict(candidate="a", rung=-1), "rung of a"),
                            (dict(candidate="a", rung=0, status="done"), "status"),
                            (dict(candidate="a", rung=0, status="error"), "error message"),
                            (dict(candidate="a", rung=0, metrics={"top1": 0.5}), "not a validation metric"),
                            (dict(candidate="a", rung=0, metrics={"val_top1": "high"}), "must be a number"),
                            (dict(candidate="a", rung=0, extra={"latency_ms": 3}), "name fields")]:
        with pytest.raises(ValueError, match=message):
            RungResult(**kwargs)


def test_from_dict_reads_older_and_partial_records():
    # hoot.testing.toy_engine's old dicts: no candidate (the caller knows it) and few fields
    toy = RungResult.from_dict({"val_top1": 0.25, "val_loss": 0.75, "rung": 1, "status": "ok"}, candidate="m1", rung=1)
    assert toy.candidate == "m1" and toy.rung == 1 and toy.metrics == {"val_top1": 0.25, "val_loss": 0.75}
    assert toy.latency_ms is None and toy.precision is None and toy.probe_images_per_s == {}
    # a study attribute went through study.json_safe: NaN became null; a missing status is "ok"
    safe = RungResult.from_dict({"candidate": "m2", "rung": 0, "val_top1": None, "train_loss_last": None, "worker": "h:1"})
    assert safe.ok and safe.metric("val_top1") is None and safe.extra == {"worker": "h:1"}
    assert safe.to_dict()["worker"] == "h:1"  # unknown keys are written back, not dropped
    assert rank({"m2": safe, "m1": toy}, "val_top1") == ["m1", "m2"]
    # only a value (a trial told by hand): the number under an engine's own name is still found
    assert RungResult.from_dict({"score": 3}, candidate="m3", rung=0).metric("score") == 3.0
    nested = RungResult.from_dict({"candidate": "m5", "rung": 2, "metrics": {"val_f1": 0.4, "val_map": None}})
    assert nested.metrics == {"val_f1": 0.4} and nested.to_dict()["val_f1"] == 0.4
    old_error = RungResult.from_dict({"candidate": "m4", "rung": 0, "status": "error"})
    assert not old_error.ok and old_error.error
    with pytest.raises(ValueError):
        RungResult.from_dict(["not", "a", "dict"])  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        RungResult.from_dict({"val_top1": 0.5})  # no candidate anywhere


def test_nan_metric_stays_a_float_in_the_record():
    r = RungResult("a", 0, metrics={"val_loss": float("nan")}, train_loss_last=float("nan"))
    assert math.isnan(r.metric("val_loss")) and math.isnan(r.to_dict()["train_loss_last"])


def test_bakeoff_json_in_the_old_dict_shape_resumes(shapes, tmp_path):
    """A run folder written before RungResult (rungs as flat dicts) resumes without retraining, and
    bakeoff.json keeps its flat shape (and keys this version does not know) when it is saved again."""
    cfg = tiny_config(shapes, tmp_path, candidates=["squeezenet1_1", "mobilenet_v3_small"])
    ctx = prepare(cfg, progress=False)
    second = OLD_OK | {"candidate": "mobilenet_v3_small", "val_top1": 0.7, "latency_ms": 2.5, "from_an_old_hoot": [1, 2]}
    old_rungs = [{"squeezenet1_1": OLD_OK, "mobilenet_v3_small": second}]
    old = {"metric": "val_top1", "winner": "mobilenet_v3_small", "candidates": cfg.candidates, "rungs": old_rungs,
           "table": [], "complete": True}
    (ctx.run_dir / "bakeoff.json").write_text(json.dumps(old), encoding="utf-8")
    calls = []

    def executor(c, names, rung):
        calls.append((names, rung))
        raise AssertionError("a finished rung was trained again")

    result = run_bakeoff(ctx, executor)
    assert calls == [] and result.winner == "mobilenet_v3_small" and isinstance(result, BakeoffResult)
    assert all(isinstance(r, RungResult) for r in result.rungs[0].values())
    assert result.rungs[0]["squeezenet1_1"].metric("val_top1") == 0.5
    saved = json.loads((ctx.run_dir / "bakeoff.json").read_text(encoding="utf-8"))
    assert saved["rungs"] == old_rungs and saved["complete"] is True
    assert [row["candidate"] for row in saved["table"]] == ["mobilenet_v3_small", "squeezenet1_1"]
    assert saved["table"][0]["val_top1"] == 0.7 and saved["table"][0]["winner"] is True


def test_unreadable_saved_rungs_are_trained_again(shapes, tmp_path):
    cfg = tiny_config(shapes, tmp_path, candidates=["squeezenet1_1", "mobilenet_v3_small"])
    ctx = prepare(cfg, progress=False)
    broken = {"candidates": cfg.candidates, "rungs": [{"squeezenet1_1": OLD_OK | {"status": "weird"},
                                                       "mobilenet_v3_small": OLD_OK}]}
    (ctx.run_dir / "bakeoff.json").write_text(json.dumps(broken), encoding="utf-8")
    calls = []

    def executor(c, names, rung):
        calls.append(rung)
        return {n: RungResult(n, rung, metrics={"val_top1": 0.5 if n == "squeezenet1_1" else 0.4}) for n in names}

    assert run_bakeoff(ctx, executor).winner == "squeezenet1_1" and calls == [0]
