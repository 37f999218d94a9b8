"""The report's per-class table and confusion matrix are on the held-out test split, like its headline,
each figure says its split, and the run id ends it (issue 21: they were on validation, unlabelled)."""

from __future__ import annotations

from hoot.trainer.report import _per_class_rows, per_class_source, render_markdown

PER = {"precision": [1.0, 0.5], "recall": [0.5, 1.0], "f1": [0.67, 0.67], "support": [2, 2]}


def _run(test_per_class: bool) -> dict:
    test = {"test_top1": 0.75, **({"per_class": PER, "confusion_matrix": [[1, 1], [0, 2]]} if test_per_class else {})}
    final = {"val_top1": 1.0, "per_class": {**PER, "support": [9, 9]}, "confusion_matrix": [[9, 0], [0, 9]]}
    return {"config": {"run_id": "r42"}, "dataset": {"classes": ["a", "b"]}, "bakeoff": {},
            "finetune": {"final": final, "test": test}}


def test_per_class_figures_come_from_the_test_split() -> None:
    evaluation, split = per_class_source(_run(True))
    assert split == "held-out test" and evaluation["confusion_matrix"] == [[1, 1], [0, 2]]
    assert [r["support"] for r in _per_class_rows(_run(True))] == [2, 2]


def test_older_runs_without_test_per_class_say_validation() -> None:
    assert per_class_source(_run(False))[1] == "validation"


def test_the_report_ends_with_the_run_id() -> None:
    run = {"config": {"run_id": "r42"}, "dataset": {}, "bakeoff": {}, "finetune": None}
    assert render_markdown(run, {}).rstrip().splitlines()[-1] == "run id: r42"
