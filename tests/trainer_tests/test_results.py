"""Typed results (FinetuneResult, ShortlistResult, WorkerSummary): the JSON on disk is what the
dicts they replace wrote, and files written before them load."""

from __future__ import annotations

import json

from hoot.trainer.orchestration.results import ShortlistResult, WorkerSummary
from hoot.trainer.training.finetune_result import FinetuneResult

#: a finetune.json as the untyped fine-tune wrote it (keys in its order, precision/compile keys last)
OLD_FINETUNE = {
    "winner": "resnet18", "strategy": "top", "strategy_reason": "small data", "lr": 0.001, "lr_range": [1e-4, 1e-3],
    "lr_groups": {"head": 0.001}, "head_lr_range": [1e-3, 1e-2], "optimizer": "adamw", "batch_size": 8,
    "autobatch": None, "epochs_planned": 3, "epochs_run": 2, "best_epoch": 2, "kept": "epoch 2", "start_value": 0.3,
    "stopped_early": False, "started_from": "bake-off checkpoint", "seconds": 1.5, "autocast": None, "world_size": 1,
    "history": [{"epoch": 1, "val_top1": 0.5}], "final": {"val_top1": 0.6, "confusion_matrix": [[1]]},
    "test": {"test_top1": 0.55}, "test_images": 9, "selected_on": "validation", "reported_on": "test",
    "precision": "fp32", "channels_last": False, "grad_scaler": False, "precision_source": "cpu",
    "probe_images_per_s": {}, "compile": "off", "compile_source": "asked", "compile_seconds": 0.0,
    "eager_step_s": None, "compiled_step_s": None, "compile_run_steps": 0,
}


def test_finetune_json_is_byte_for_byte_the_old_dict():
    result = FinetuneResult.from_dict(OLD_FINETUNE)
    assert json.dumps(result.to_dict(), indent=2) == json.dumps(OLD_FINETUNE, indent=2)
    assert result.winner == "resnet18" and result.final_numbers() == {"val_top1": 0.6}
    assert result["kept"] == "epoch 2" and result == OLD_FINETUNE  # scripts reading the old dict keep working


def test_an_older_finetune_json_loads_and_extra_keys_ride_along():
    old = {"winner": "a", "final": {"val_top1": 0.5}, "launch_seconds": 3.0}  # a launcher's file, fewer keys
    result = FinetuneResult.from_dict(old)
    assert result.world_size == 1 and result.extra == {"launch_seconds": 3.0}
    agreed = result.with_extra(world_size=2, ranks_agree=True)
    assert agreed.world_size == 2 and agreed.extra == {"launch_seconds": 3.0, "ranks_agree": True}


def test_shortlist_result_prints_the_keys_the_dict_had():
    local = ShortlistResult(run_id="r", run_dir="/x/r", winner="a", table=[{"candidate": "a"}], final={"val_top1": 0.5})
    assert list(local.to_dict()) == ["run_id", "run_dir", "winner", "table", "final"]
    found = ShortlistResult(study="s", winner="a", table=[], finetune={"final": {}, "world_size": 1})
    assert list(found.to_dict()) == ["study", "winner", "table", "finetune"]
    assert ShortlistResult.from_dict(local.to_dict()).to_dict() == local.to_dict()
    summary = WorkerSummary(study="s", worker="h:1", rungs_trained=2, wall_s=1.0, storage_s=0.1, storage_calls=5)
    assert summary.to_dict() == {"study": "s", "worker": "h:1", "rungs_trained": 2, "wall_s": 1.0, "storage_s": 0.1,
                                 "storage_calls": 5}
