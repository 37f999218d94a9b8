"""`hoot explain` on a tiny trained run: Grad-CAM and EigenCAM overlays, --class, the report's heatmaps."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from hoot.cli.main import main
from hoot.testing.images import make_imagefolder

FAST = ["--no-pretrained", "--steps", "2", "--batch-size", "8", "--image-size", "32", "--full-epochs", "1", "--threads", "2"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("explain")
    data = make_imagefolder(tmp / "shapes", per_class=8)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOOT_DATA_DIR", str(tmp / "hoot"))
        code = main(["shortlist", str(data), "--candidates", "squeezenet1_1", "--output", str(tmp / "reports"),
                     "--run-id", "r", "--format", "json", *FAST])
    assert code == 0
    return tmp / "reports" / "r", data


@pytest.mark.parametrize("method", ["gradcam", "eigencam", "gradcam++"])
def test_explain_writes_overlays(tiny_run, tmp_path, capsys, method):
    run, data = tiny_run
    images = sorted(str(p) for p in data.rglob("*.png"))[:2]
    code = main(["explain", str(run), *images, "--method", method, "--out", str(tmp_path), "--format", "json"])
    rows = json.loads(capsys.readouterr().out)
    assert code == 0 and len(rows) == 2
    for row in rows:
        with Image.open(row["overlay_png"]) as im:
            assert im.size == (32, 32) and im.mode == "RGB"


def test_explain_a_named_class_and_a_bad_one(tiny_run, tmp_path, capsys):
    run, data = tiny_run
    image = str(sorted(data.rglob("*.png"))[0])
    assert main(["explain", str(run), image, "--class", "blue_triangle", "--out", str(tmp_path), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["explained_class"] == "blue_triangle"
    assert main(["explain", str(run), image, "--class", "zebra"]) == 2
    assert "hoot: error: --class 'zebra' is not a class" in capsys.readouterr().err


def test_report_shows_heatmaps(tiny_run):
    run, _ = tiny_run
    md = (run / "report.md").read_text()
    assert "Grad-CAM" in md and list((run / "heatmaps").glob("*.png"))
    assert "](heatmaps/" in md


def test_report_says_why_when_heatmaps_fail(tiny_run, monkeypatch):
    from hoot.advisor.errors import HootError
    from hoot.trainer.health import explain
    from hoot.trainer.report import write_report

    run, _ = tiny_run

    def refuse(*args, **kwargs):
        raise HootError("no convolution layer")

    monkeypatch.setattr(explain, "right_and_wrong", refuse)
    write_report(run)
    assert "Heatmaps not drawn: no convolution layer" in (run / "report.md").read_text()
