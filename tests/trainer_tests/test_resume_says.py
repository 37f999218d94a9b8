"""A resumed run says what it reused and what it trained again (issue 21: it said nothing)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from hoot.trainer.training.bakeoff import BakeoffResult, run_bakeoff
from hoot.trainer.training.rung_result import RungResult


NAMES = ["mobilenet_v3_small", "resnet18", "squeezenet1_1", "vgg11"]
SCORES = {"mobilenet_v3_small": 0.5, "resnet18": 0.9, "squeezenet1_1": 0.8, "vgg11": 0.3}


def _ctx(tmp: Path, lines: list[str]) -> SimpleNamespace:
    config = SimpleNamespace(candidates=NAMES, eta=2, rungs=2)
    return SimpleNamespace(run_dir=tmp, config=config, metric="val_top1", log=lines.append)


def _result(name: str, rung: int, top1: float, ok: bool = True) -> RungResult:
    if not ok:
        return RungResult(name, rung, status="error", error="boom")
    return RungResult(name, rung, steps=10, metrics={"val_top1": top1, "val_loss": 1 - top1})


def _executor(ctx, names, rung):
    return {n: _result(n, rung, SCORES[n]) for n in names}


def _interrupted(tmp: Path, rung0: dict[str, RungResult]) -> None:
    saved = BakeoffResult([rung0], "", "val_top1", NAMES)
    (tmp / "bakeoff.json").write_text(json.dumps(saved.to_dict() | {"complete": False}))


def test_a_finished_rung_is_said_to_be_reused_and_the_next_to_be_trained(tmp_path: Path) -> None:
    _interrupted(tmp_path, {n: _result(n, 0, SCORES[n]) for n in NAMES})
    lines: list[str] = []
    run_bakeoff(_ctx(tmp_path, lines), _executor)
    assert "bake-off rung 0 of mobilenet_v3_small, resnet18, squeezenet1_1, vgg11 reused from the interrupted run (bakeoff.json)" in lines
    assert "bake-off rung 1 trained again: the interrupted run did not finish it" in lines


def test_a_failed_candidate_is_said_to_be_trained_again(tmp_path: Path) -> None:
    _interrupted(tmp_path, {n: _result(n, 0, SCORES[n], ok=n != "mobilenet_v3_small") for n in NAMES})
    lines: list[str] = []
    run_bakeoff(_ctx(tmp_path, lines), _executor)
    assert "bake-off rung 0 trained again: mobilenet_v3_small failed there in the interrupted run" in lines


def test_a_fresh_run_says_nothing_about_resuming(tmp_path: Path) -> None:
    lines: list[str] = []
    run_bakeoff(_ctx(tmp_path, lines), _executor)
    assert not [line for line in lines if "interrupted" in line or "again" in line]
