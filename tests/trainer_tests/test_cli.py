"""`hoot shortlist/export/predict/report` end to end through the CLI, pretrained loading, errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from hoot.cli.main import cli, main
from hoot.testing.images import CLASSES, make_imagefolder

FAST = ["--no-pretrained", "--steps", "2", "--batch-size", "8", "--image-size", "32", "--full-epochs", "1", "--threads", "2"]


def run_cli(args):
    result = CliRunner().invoke(cli, args)
    return result


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """One small run shared by the tests that read it (training is the slow part)."""
    tmp_path = tmp_path_factory.mktemp("trained")
    shapes = make_imagefolder(tmp_path / "shapes")
    with pytest.MonkeyPatch.context() as mp:  # the autouse isolation fixture is per test; repeat it here
        mp.setenv("HOOT_DATA_DIR", str(tmp_path / "hoot"))
        mp.setenv("TORCH_HOME", str(tmp_path / "torch"))
        mp.delenv("HOOT_ALLOW_DOWNLOAD", raising=False)
        return _train(shapes, tmp_path)


def _train(shapes, tmp_path):
    out = tmp_path / "reports"
    r = run_cli(["shortlist", str(shapes), "--candidates", "mobilenet_v3_small,squeezenet1_1,shufflenet_v2_x0_5",
                 "--output", str(out), "--run-id", "run1", "--format", "json", *FAST])
    assert r.exit_code == 0, r.output
    return out / "run1", json.loads(r.stdout), shapes


def test_shortlist_writes_every_output(trained_run):
    run_dir, payload, _ = trained_run
    for name in ("report.md", "report.html", "metrics.json", "metrics.csv", "best.pt", "last.pt", "bakeoff.json",
                 "learning_curves.png", "confusion_matrix.png", "config.json", "dataset.json"):
        assert (run_dir / name).is_file(), name
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert len(metrics["bakeoff"]["rungs"]) == 1  # 3 candidates, eta 2: one rung leaves a single survivor
    assert set(metrics["bakeoff"]["rungs"][0]) == {"mobilenet_v3_small", "squeezenet1_1", "shufflenet_v2_x0_5"}
    assert metrics["winner"] == payload["winner"] and metrics["finetune"]["history"][0]["epoch"] == 1
    report = (run_dir / "report.md").read_text()
    for section in ("## Dataset", "## Skipped files", "## Bake-off", "## Per-class precision", "## Deployment notes"):
        assert section in report
    assert "<table>" in (run_dir / "report.html").read_text()
    rows = (run_dir / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("phase,") and sum(r.startswith("bakeoff,") for r in rows) == 3


def test_export_onnx_and_torchscript_and_predict(trained_run):
    run_dir, _, shapes = trained_run
    r = run_cli(["export", str(run_dir), "--format", "onnx"])
    assert r.exit_code == 0, r.output
    assert (run_dir / "model.onnx").is_file() and "onnxruntime" in r.output
    r = run_cli(["export", str(run_dir), "--format", "torchscript"])
    assert r.exit_code == 0 and (run_dir / "model.torchscript.pt").is_file()
    img = next((shapes / CLASSES[0]).glob("*.png"))
    r = run_cli(["predict", str(run_dir), str(img), "--top", "2", "--format", "json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert [row["rank"] for row in rows] == [1, 2] and rows[0]["class"] in CLASSES
    assert rows[0]["probability"] >= rows[1]["probability"]
    r = run_cli(["report", str(run_dir)])
    assert r.exit_code == 0 and "report_md" in r.output


def test_resume_reuses_the_bakeoff(trained_run, caplog):
    run_dir, payload, _ = trained_run
    caplog.set_level("INFO", logger="hoot")
    r = run_cli(["shortlist", "--resume", "run1", "--output", str(run_dir.parent), "--format", "json"])
    assert r.exit_code == 0, r.output
    # progress is logged (the CLI's handler prints it on stderr as `hoot: ...`), not printed by library code
    assert "reused from the interrupted run" in caplog.text and json.loads(r.stdout)["winner"] == payload["winner"]


def test_shortlist_ends_with_the_test_figure_and_finds_runs_by_id(trained_run, tmp_path, monkeypatch):
    run_dir, payload, _ = trained_run
    assert payload["test"]["test_top1"] >= 0 and payload["test_images"] == 6 and payload["kept"]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test"]["reported_figure"]["test_top1"] == payload["test"]["test_top1"]
    assert (run_dir / "complete").is_file() and not list(run_dir.glob("*.tmp")) and not list(run_dir.glob(".*.tmp"))
    assert "## Result (held-out test split)" in (run_dir / "report.md").read_text()
    from hoot.cli.runs import final_line

    assert final_line(payload).startswith(f"winner {payload['winner']}: test_top1 ")
    monkeypatch.setenv("HOOT_DATA_DIR", str(run_dir.parent.parent / "hoot"))  # the data dir the run was made with
    monkeypatch.chdir(tmp_path)  # elsewhere, without --output: found through the index of run folders
    r = run_cli(["report", "run1"])
    assert r.exit_code == 0, r.output


def test_multilabel_run_reports_f1_and_map(tmp_path):
    rng = np.random.default_rng(0)
    d = tmp_path / "tags"
    d.mkdir()
    for i in range(24):
        arr = np.zeros((32, 32, 3), dtype=np.uint8) + rng.integers(0, 40, (32, 32, 3), dtype=np.uint8)
        tags = []
        if i % 2:
            arr[:, :, 0] = 220
            tags.append("red")
        if i % 3:
            arr[:16, :, 2] = 220
            tags.append("blue_top")
        Image.fromarray(arr).save(d / f"{i}.png")
        (d / f"{i}.txt").write_text(", ".join(tags or ["plain"]))
    r = run_cli(["shortlist", str(d), "--candidates", "squeezenet1_1", "--output", str(tmp_path / "r"), "--run-id", "ml",
                 "--format", "json", *FAST])
    assert r.exit_code == 0, r.output
    metrics = json.loads((tmp_path / "r" / "ml" / "metrics.json").read_text())
    rung = metrics["bakeoff"]["rungs"][0]["squeezenet1_1"]
    assert metrics["task"] == "multilabel" and {"val_f1", "val_map", "val_loss"} <= set(rung)
    assert "val_f1" in json.loads(r.stdout)["table"][0]
    r = run_cli(["predict", str(tmp_path / "r" / "ml"), str(d / "1.png"), "--format", "json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert rows and rows[0]["class"] in {"red", "blue_top", "plain"} and 0 <= rows[0]["probability"] <= 1
    threshold = json.loads((tmp_path / "r" / "ml" / "finetune.json").read_text())["threshold"]  # chosen on validation
    assert len(rows) == 3 and all(row["tagged"] == (row["probability"] >= threshold) for row in rows)


def test_pretrained_weights_load_from_a_temporary_cache(shapes, tmp_path):
    """A state dict written into TORCH_HOME's checkpoint folder is what --pretrained loads."""
    import torchvision

    from hoot.advisor.catalog import load_catalog
    from hoot.bench.models import build_model
    from hoot.bench.sources import source_of

    torch.manual_seed(123)
    state = torchvision.models.squeezenet1_1().state_dict()
    variant = load_catalog().get("squeezenet1_1")
    path = source_of(variant).weights_file(variant).path
    assert str(path).startswith(os.environ["TORCH_HOME"])
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    model = build_model("squeezenet1_1", num_classes=3, pretrained=True)
    assert torch.equal(model.features[0].weight, state["features.0.weight"])
    out = tmp_path / "reports"
    r = run_cli(["shortlist", str(shapes), "--candidates", "squeezenet1_1", "--output", str(out), "--run-id", "pre",
                 "--pretrained", "--steps", "2", "--batch-size", "8", "--image-size", "32", "--full-epochs", "1"])
    assert r.exit_code == 0, r.output
    cfg = json.loads((out / "pre" / "config.json").read_text())
    ft = json.loads((out / "pre" / "finetune.json").read_text())
    assert cfg["pretrained"] and ft["strategy"] == "frozen" and ft["lr_range"] == [0.001, 0.01]


def test_shortlist_trains_timm_models_from_scratch(shapes, tmp_path):
    """Issue 19: timm's models train in the same bake-off, and the run records which package built each."""
    out = tmp_path / "reports"
    r = run_cli(["shortlist", str(shapes), "--candidates", "efficientnet_lite0,mobilenetv4_conv_small,lcnet_050",
                 "--no-pretrained", "--output", str(out), "--run-id", "zoo", "--steps", "2", "--batch-size", "8",
                 "--image-size", "32", "--full-epochs", "1", "--format", "json"])
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert {row["candidate"] for row in result["table"]} == {"efficientnet_lite0", "mobilenetv4_conv_small", "lcnet_050"}
    resolved = json.loads((out / "zoo" / "config.json").read_text())["resolved"]
    assert resolved["model_sources"]["mobilenetv4_conv_small"].startswith("timm ")


def test_timm_pretrained_offline_is_a_one_line_error(shapes, tmp_path, capsys):
    code = main(["shortlist", str(shapes), "--candidates", "lcnet_050", "--output", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("hoot: error: pretrained weights file 'model.safetensors' for lcnet_050 ")
    assert "Hugging Face hub cache" in err and "--no-pretrained" in err and err.count("\n") == 1


def test_pretrained_offline_is_a_one_line_error(shapes, tmp_path, capsys):
    code = main(["shortlist", str(shapes), "--candidates", "mobilenet_v3_small", "--output", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("hoot: error: pretrained weights file 'mobilenet_v3_small-")
    assert "--no-pretrained" in err and err.count("\n") == 1


@pytest.mark.parametrize("args, message", [
    (["shortlist", "{missing}", "--candidates", "resnet18", "--no-pretrained"], "does not exist"),
    (["shortlist", "{file}", "--candidates", "resnet18", "--no-pretrained"], "is a file"),
    (["shortlist", "{data}", "--candidates", "resnet_18", "--no-pretrained"], "unknown model 'resnet_18'"),
    (["shortlist", "{data}", "--candidates", "resnet18,resnet18", "--no-pretrained"], "twice"),
    (["shortlist", "{data}", "--candidates", "resnet18", "--no-pretrained", "--strategy", "frozen"], "--strategy frozen"),
    (["shortlist", "{data}", "--candidates", "resnet18", "--no-pretrained", "--val-fraction", "1.5"], "--val-fraction"),
    (["shortlist", "{data}", "--candidates", "fasterrcnn_resnet50_fpn", "--no-pretrained"], "does not support task"),
    (["shortlist"], "missing DATA_DIR"),
    (["shortlist", "--resume", "nope", "--output", "{tmp}"], "--resume nope"),
    (["export", "{tmp}", "--format", "onnx"], "has no best.pt"),
    (["predict", "{tmp}/nope", "x.png"], "not found"),
    (["report", "{tmp}"], "not a hoot run folder"),
])
def test_bad_inputs_are_one_line_errors(args, message, shapes, tmp_path, capsys):
    (tmp_path / "f.txt").write_text("x")
    subs = {"{missing}": str(tmp_path / "missing"), "{file}": str(tmp_path / "f.txt"), "{data}": str(shapes),
            "{tmp}": str(tmp_path)}
    argv = []
    for a in args:
        for k, v in subs.items():
            a = a.replace(k, v)
        argv.append(a)
    code = main(argv + (["--output", str(tmp_path / "out")] if argv[0] == "shortlist" and "--output" not in argv else []))
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("hoot: error:") and message in err and err.count("\n") == 1, err


def test_predict_rejects_a_broken_image(trained_run, tmp_path, capsys):
    run_dir, _, _ = trained_run
    bad = tmp_path / "bad.jpg"
    bad.write_text("nope")
    assert main(["predict", str(run_dir), str(bad)]) == 2
    assert "cannot be used" in capsys.readouterr().err


def test_scaleout_flags_route_to_scaleout(monkeypatch, shapes, tmp_path):
    import hoot.trainer.orchestration.scaleout as so

    seen = {}
    monkeypatch.setattr(so, "run_shortlist", lambda config, opts: seen.update(config=config, opts=opts) or {})
    r = run_cli(["shortlist", str(shapes), "--candidates", "resnet18", "--no-pretrained", "--storage", "sqlite:///x.db",
                 "--study", "s1", "--nproc", "2", "--output", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert seen["opts"]["storage"] == "sqlite:///x.db" and seen["opts"]["nproc"] == 2 and seen["opts"]["study"] == "s1"
    assert seen["config"].candidates == ["resnet18"]


def test_advisor_picks_candidates_in_the_advisors_language(shapes):
    from hoot.advisor.catalog import load_catalog
    from hoot.trainer.orchestration.candidates import advised_candidates, parse_candidates

    names, reasons = advised_candidates("classification", 3, 36, 40.0, {"max_params": 6_000_000}, target="mobile")
    catalog = load_catalog()
    assert len(names) == 3 == len(reasons)
    assert all(catalog.get(n).provided and catalog.get(n).params <= 6_000_000 for n in names)
    assert parse_candidates(" a, b ,") == ["a", "b"]
