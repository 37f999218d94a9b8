"""Detection through the whole pipeline: `hoot shortlist` on a generated COCO folder with two tiny
detectors from scratch, then predict and export; the bad inputs of issue 18 through the CLI; and
the resume of an interrupted detection bake-off.

These need the tasks branch's plumbing (scan, bake-off, fine-tune, predict and export through the
Task interface, `hoot.trainer.tasks.scanning`); without it they skip with that reason."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hoot.testing.detection_data import make_coco, make_yolo

pytestmark = [pytest.mark.skipif(importlib.util.find_spec("hoot.trainer.tasks.scanning") is None,
                                 reason="needs the tasks branch's plumbing (bake-off and fine-tune through the Task)"),
              pytest.mark.timeout(900)]  # two detectors trained end to end: minutes on a shared 2-core CPU

DETECTORS = "ssdlite320_mobilenet_v3_large,fasterrcnn_mobilenet_v3_large_320_fpn"
TINY = ("--no-pretrained", "--image-size", "64", "--batch-size", "4", "--steps", "1", "--full-epochs", "1",
        "--threads", "2")


def run_cli(args):
    from hoot.cli.main import cli

    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def detection_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("det")
    make_coco(tmp / "coco", count=12, size=64, background_every=6)
    r = run_cli(["shortlist", tmp / "coco", "--candidates", DETECTORS, *TINY, "--output", tmp / "out",
                 "--run-id", "det1", "--format", "json"])
    assert r.exit_code == 0, r.output
    return tmp, tmp / "out" / "det1", json.loads(r.stdout)


def test_shortlist_on_coco_reports_test_map(detection_run):
    _, run_dir, payload = detection_run
    assert payload["winner"] in DETECTORS.split(",")
    assert 0.0 <= payload["test"]["test_map50_95"] <= payload["test"]["test_map50"] <= 1.0
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test"]["reported_figure"]["test_map50_95"] == payload["test"]["test_map50_95"]


def test_report_shows_detection_pictures(detection_run):
    _, run_dir, _ = detection_run
    assert list(run_dir.rglob("detections.png")) and list(run_dir.rglob("per_class_ap.png"))


def test_predict_prints_boxes_as_json(detection_run):
    tmp, run_dir, _ = detection_run
    image = next((tmp / "coco").glob("*.png"))
    r = run_cli(["predict", run_dir, image, "--format", "json", "--score-threshold", "0.01"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert rows and all(len(row["box"]) == 4 and row["class"] in ("red_circle", "green_square", "blue_triangle")
                        and 0 <= row["score"] <= 1 for row in rows)


def test_export_onnx_gives_pytorchs_boxes(detection_run, capsys):
    """The detector's ONNX file, loaded in onnxruntime on the run's test images, gives PyTorch's boxes
    (the check compares box by box above the score floor; ties of an untrained detector are counted)."""
    from hoot.cli.main import main

    _, run_dir, _ = detection_run
    code = main(["export", str(run_dir), "--format", "onnx"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert (run_dir / "model.onnx").is_file() and "vs PyTorch on 2 test image(s) via onnxruntime" in captured.out
    assert "boxes compared" in captured.out


def test_optimize_measures_the_detector_and_says_why_int8_cannot(detection_run, capsys, tmp_path, monkeypatch):
    """hoot optimize on a detection run: eager and ONNX Runtime timed one image per call and scored
    on the held-out split with the same mAP; INT8 is a skipped row that says why, and the quantiser's
    failed shape inference leaves nothing in the user's current folder."""
    from hoot.cli.main import main

    _, run_dir, _ = detection_run
    here = tmp_path / "cwd"
    here.mkdir()
    monkeypatch.chdir(here)
    code = main(["optimize", str(run_dir), "--variants", "eager,onnxruntime,int8", "--quick", "--format", "json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    doc = json.loads(captured.out)
    rows = {r["variant"]: r for r in doc["rows"]}
    assert doc["metric"] == "test_map50_95"
    assert rows["eager"]["status"] == rows["onnxruntime"]["status"] == "ok"
    assert rows["eager"]["batch_size"] == rows["onnxruntime"]["batch_size"] == 1
    assert abs(rows["onnxruntime"]["score"] - rows["eager"]["score"]) <= 0.01
    assert rows["int8"]["status"] == "skipped" and "quantiser" in rows["int8"]["reason"]
    assert "Traceback" not in captured.err and "def forward" not in captured.err
    assert list(here.iterdir()) == []


def test_resume_of_an_interrupted_detection_bakeoff_matches_scratch(tmp_path):
    """Rung 1 resumed from rung 0's checkpoint equals rung 1 trained from scratch (as for classification)."""
    from hoot.testing.images import tiny_config
    from hoot.trainer.training.bakeoff import prepare, train_rung

    make_coco(tmp_path / "coco", count=16, size=64)
    kw = dict(candidates=["ssdlite320_mobilenet_v3_large"], task="detection", image_size=64, batch_size=4, steps=2)
    ctx_a = prepare(tiny_config(tmp_path / "coco", tmp_path / "a", **kw), progress=False)
    train_rung(ctx_a, "ssdlite320_mobilenet_v3_large", 0)
    resumed = train_rung(ctx_a, "ssdlite320_mobilenet_v3_large", 1)
    ctx_b = prepare(tiny_config(tmp_path / "coco", tmp_path / "b", **kw), progress=False)
    scratch = train_rung(ctx_b, "ssdlite320_mobilenet_v3_large", 1)
    assert resumed.resumed_from_step == 2 and scratch.resumed_from_step == 0
    assert resumed.metric("val_map50_95") == pytest.approx(scratch.metric("val_map50_95"), abs=1e-6)


def _yolo(tmp: Path) -> Path:
    make_yolo(tmp / "y", count=6)
    return tmp / "y"


def _coco_doc(tmp: Path, mutate) -> Path:
    make_coco(tmp / "c", count=6)
    doc = json.loads((tmp / "c" / "annotations.json").read_text())
    mutate(doc)
    (tmp / "c" / "annotations.json").write_text(json.dumps(doc))
    return tmp / "c"


@pytest.mark.parametrize("setup, message", [
    (lambda t: _coco_doc(t, lambda d: d.pop("categories")), r"annotations.json' is not a COCO detection file"),
    (lambda t: _coco_doc(t, lambda d: d["annotations"][0].__setitem__("bbox", [1, 1, -2, 3])), r"negative width"),
    (lambda t: _coco_doc(t, lambda d: d["annotations"][0].__setitem__("category_id", 42)), r"category id 42"),
    (lambda t: (_yolo(t) / "labels" / "img_0000.txt").write_text("0 0.5 0.5 0.1\n") and t / "y", r"has 4 fields"),
    (lambda t: (_yolo(t) / "data.yaml").write_text("names: [a]\n") and t / "y", r"names 1 classes but"),
])
def test_bad_detection_input_is_one_line_before_training(tmp_path, setup, message, capsys):
    from hoot.cli.main import main

    data = setup(tmp_path)
    code = main(["shortlist", str(data), "--candidates", "ssdlite320_mobilenet_v3_large", "--no-pretrained",
                 "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("hoot: error: ")
    import re

    assert re.search(message, err[0]) and not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*.pt"))
