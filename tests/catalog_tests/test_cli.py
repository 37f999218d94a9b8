"""`hoot catalog` list / show / check through click's runner and `advisor.cli.main` (exit codes, one-line errors)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hoot.cli.main import cli, main

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str):
    result = CliRunner().invoke(cli, ["catalog", *args])
    return result


def test_bare_catalog_lists_everything():
    result = run()
    assert result.exit_code == 0, result.output
    assert "efficientnet_v2_l" in result.output and "lraspp_mobilenet_v3_large" in result.output
    assert result.output.splitlines()[0].split()[:3] == ["name", "family", "kind"]


def test_list_filters_json():
    result = run("list", "--target", "mobile", "--task", "classification", "--max-params", "5M", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    names = {r["name"] for r in rows}
    assert {"mobilenet_v3_small", "shufflenet_v2_x1_0"} <= names
    assert "mobilenet_v3_large" not in names  # 5.48M parameters > 5M
    for r in rows:
        assert "mobile" in r["targets"] and r["params"] <= 5_000_000
        assert r["task_builders"]["classification"]


def test_group_options_equal_list_options():
    a = run("--family", "ShuffleNet", "--format", "csv")
    b = run("list", "--family", "shufflenet", "--format", "csv")
    assert a.exit_code == b.exit_code == 0
    assert a.output == b.output
    rows = list(csv.DictReader(io.StringIO(a.output)))
    assert [r["name"] for r in rows] == ["shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5",
                                        "shufflenet_v2_x2_0"]


def test_seed_only_kind_and_sort():
    result = run("--seed-only", "--sort", "params", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert len(rows) == 28
    params = [int(r["params"]) for r in rows]
    assert params == sorted(params)
    det = run("--kind", "detection", "--format", "json")
    assert {r["kind"] for r in json.loads(det.output)} == {"detection"}
    seg = run("--task", "segmentation", "--provided-only", "--format", "json")
    names = {r["name"] for r in json.loads(seg.output)}
    assert {"deeplabv3_resnet50", "resnet50", "mobilenet_v3_large", "unet_resnet34"} <= names and "bisenet" not in names


def test_markdown_format():
    result = run("--family", "SqueezeNet", "--format", "markdown")
    assert result.output.startswith("| name") and "squeezenet1_1" in result.output


def test_show_puts_seed_figures_beside_torchvision():
    result = run("show", "efficientnet_b2")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "seeds/004_1ef0001e8855db62.txt" in out and "torchvision (EfficientNet_B2_Weights.IMAGENET1K_V1)" in out
    line = next(l for l in out.splitlines() if l.startswith("input_px"))
    assert line.split()[1:] == ["288", "260", "260"]


def test_show_json_has_every_field():
    from hoot.advisor.catalog import Variant

    record = json.loads(run("show", "resnet50", "--format", "json").output)
    assert set(Variant.__dataclass_fields__) <= set(record)
    assert record["params"] == 25557032 and record["gflops"] == pytest.approx(2 * 4.089)


def test_check_shipped_ok():
    result = run("check")
    assert result.exit_code == 0, result.output
    from hoot.advisor.catalog import load_catalog

    assert result.output.startswith(f"ok: {len(load_catalog().provided())} variants match torchvision ")
    assert ", timm " in result.output and ", segmentation-models-pytorch " in result.output


def _edited_catalog(tmp_path: Path, old: str, new: str) -> Path:
    text = (ROOT / "catalog.yaml").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "mine.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_check_user_file_with_wrong_figure_exits_1(tmp_path, capsys):
    path = _edited_catalog(tmp_path, "params: 11689512", "params: 11700000")
    assert main(["catalog", "check", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out.strip() == "resnet18: params is 11700000, torchvision says 11689512"
    assert err.startswith("hoot: 1 problem(s) in ") and "regen_catalog.py" in err


@pytest.mark.parametrize("content,needle", [
    ("schema_version: 1\nvariants:\n  - name: [oops\n", "malformed YAML"),
    ("just text\n", "expected a mapping"),
])
def test_check_malformed_file_exits_2_one_line(tmp_path, capsys, content, needle):
    path = tmp_path / "bad.yaml"
    path.write_text(content, encoding="utf-8")
    assert main(["catalog", "check", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("hoot: error: bad.yaml: ") and needle in err


def test_check_bad_entry_names_entry_and_field(tmp_path, capsys):
    path = _edited_catalog(tmp_path, "memory_tier: very_high", "memory_tier: enormous")
    assert main(["catalog", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "'memory_tier'" in err and "entry '" in err and err.count("\n") == 1


@pytest.mark.parametrize("args,needle", [
    (["catalog", "show", "resnet5"], "unknown model 'resnet5'; did you mean resnet50"),
    (["catalog", "check", "/nonexistent/catalog.yaml"], "does not exist"),
    (["catalog", "list", "--max-params", "-5M"], "--max-params '-5M' is negative"),
    (["catalog", "list", "--max-params", "lots"], "--max-params 'lots' is not a number"),
    (["catalog", "--family", "Resnett"], "unknown family 'Resnett'"),
    (["catalog", "--target", "phone"], "'--target'"),
    (["catalog", "--format", "xml"], "'--format'"),
])
def test_bad_input_exits_2_with_one_line(capsys, args, needle, tmp_path):
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("hoot: error: ") and err.count("\n") == 1 and needle in err


def test_check_directory_exits_2(tmp_path, capsys):
    assert main(["catalog", "check", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_no_match_exits_1(capsys):
    assert main(["catalog", "--max-params", "1k"]) == 1
    assert "no catalog variant matches --max-params 1000" in capsys.readouterr().err


def test_hoot_catalog_env_points_at_another_file(tmp_path, monkeypatch):
    path = _edited_catalog(tmp_path, "display_name: ResNet-18", "display_name: My ResNet")
    monkeypatch.setenv("HOOT_CATALOG", str(path))
    assert "My ResNet" in run("show", "resnet18").output


def test_catalog_cli_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys; from hoot.cli.main import main; main(['catalog', 'show', 'resnet18', '--format', 'json']); "
            "assert 'torch' not in sys.modules and 'torchvision' not in sys.modules, 'torch imported'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
