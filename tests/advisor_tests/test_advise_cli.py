"""`hoot advise` end to end: formats, measurements from the results store, errors, no torch."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner
from PIL import Image

from hoot.cli.main import cli, main


def run(args: list[str]):
    return CliRunner().invoke(cli, ["advise", *args], catch_exceptions=False)


def run_main(args: list[str], capsys) -> tuple[int, str, str]:
    rc = main(["advise", *args])
    out, err = capsys.readouterr()
    return rc, out, err


def test_table_has_ranked_picks_reasons_and_the_estimate_label(capsys):
    rc, out, err = run_main(["--target", "mobile", "--task", "classification"], capsys)
    assert rc == 0
    header = next(line for line in out.splitlines() if line.startswith("rank"))
    # one unit per column (issue 11.9): gmacs and latency_ms apart, never a mixed "cost" column
    for col in ("rank", "score", "layer", "name", "family", "params_m", "gmacs", "top1", "input_px", "latency_ms",
                "latency_from", "why"):
        assert col in header
    assert " cost " not in header and "GMACs est." not in out
    assert "mobilenet_v3_large" in out
    assert "Setting: cpu fp32 batch 1" in out and "Figures: 0 measured, 0 estimated" in out
    assert "Reasons:" in out and 'seeds/000 "Selection Guidelines > By Use Case > Mobile Applications": Primary' in out
    assert "Cost (ranked in GMACs): GMACs at the native input size (an estimate" in out
    assert "no measurements for this machine" in err
    # issue 19: seeds/002's EfficientNet-Lite is built by timm now, a documents' pick weighed with the rest
    rc, out, _ = run_main(["--target", "mobile", "--task", "classification", "--top", "40"], capsys)
    assert rc == 0 and "efficientnet_lite0" in out and "doc alternative seeds/002" in out
    assert "mobilenetv4_conv_small" in out


def test_json_shape_per_pick(capsys):
    rc, out, _ = run_main(["--target", "mobile", "--format", "json", "--top", "3", "--dataset-size", "800"], capsys)
    assert rc == 0
    doc = json.loads(out)
    assert len(doc["picks"]) == 3
    for p in doc["picks"]:
        for key in ("name", "family", "params", "gmacs", "top1", "input_size", "latency_ms", "cost_source", "reasons"):
            assert key in p
        assert p["latency_ms"] is None and p["cost_source"] == "gmacs_estimate"
        assert isinstance(p["params"], int) and p["reasons"]
    assert doc["guidance"]["strategy"]["name"] == "feature_extraction"
    assert doc["guidance"]["strategy"]["lr_min"] == 1e-3
    assert doc["target"]["name"] == "mobile" and doc["estimated"] is True
    assert any(b["kind"] == "max_params" and "seeds/000" in b["source"] for b in doc["target"]["budgets"])


def test_csv_and_markdown(capsys):
    rc, out, err = run_main(["--target", "edge", "--format", "csv"], capsys)
    assert rc == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[0]["rank"] == "1" and rows[0]["cost_source"] == "gmacs_estimate" and rows[0]["reasons"]
    assert "Cost (ranked in GMACs):" in err  # context goes to stderr, the CSV stays parseable
    assert [float(r["score"]) for r in rows] == sorted((float(r["score"]) for r in rows), reverse=True)
    rc, out, _ = run_main(["--target", "edge", "--format", "markdown"], capsys)
    assert rc == 0 and "| rank" in out


def test_max_params_accepts_suffixes(capsys):
    for spelled in ("3M", "3e6", "3000000"):
        rc, out, _ = run_main(["--max-params", spelled, "--format", "json", "--top", "100"], capsys)
        assert rc == 0
        params = [p["params"] for p in json.loads(out)["picks"]]
        assert params and max(params) <= 3_000_000


def test_unsatisfiable_exits_1_naming_the_binding_constraint(capsys):
    rc, out, err = run_main(["--target", "mobile", "--max-params", "1M"], capsys)
    assert rc == 1
    assert "binding constraint: --max-params 1M" in err and "Nearest: squeezenet1_1" in err
    rc, out, err = run_main(["--target", "mobile", "--max-params", "1M", "--format", "json"], capsys)
    assert rc == 1 and json.loads(out)["binding_constraint"] == "--max-params 1M"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--target", "phone"], "unknown target 'phone'; use one of mobile, edge, cpu-server, gpu-server, research, production"),
        (["--task", "captioning"], "unknown task 'captioning'; use one of classification, multilabel, detection, segmentation"),
        (["--max-params", "-5M"], "--max-params '-5M' is negative"),
        (["--max-params", "lots"], "--max-params 'lots' is not a number"),
        # messages from hoot.cli.options, the one numeric validator (issue 12)
        (["--max-params", "0"], "--max-params '0' must be at least 1"),
        (["--max-gmacs", "-1"], "--max-gmacs '-1' must be greater than 0"),
        (["--max-gmacs", "abc"], "--max-gmacs 'abc' is not a number"),
        (["--max-latency-ms", "0"], "--max-latency-ms '0' must be greater than 0"),
        (["--max-size-mb", "nan"], "--max-size-mb 'nan' is not a finite number"),
        (["--max-memory-mb", "-8"], "--max-memory-mb '-8' must be greater than 0"),
        (["--min-top1", "150"], "--min-top1 '150' must be at most 100"),
        (["--min-top1", "high"], "--min-top1 'high' is not a number"),
        (["--top", "0"], "--top '0' must be at least 1"),
        (["--top", "three"], "--top 'three' is not a number"),
        (["--dataset-size", "-3"], "--dataset-size '-3' is negative"),
        (["--dataset-size", "0"], "--dataset-size '0' must be at least 1"),
        (["--batch-size", "0"], "--batch-size '0' must be at least 1"),
        (["--threads", "inf"], "--threads 'inf' is not a finite number"),
        (["--dtype", "fp8"], "Invalid value for '--dtype'"),
        (["--memory", "disk"], "Invalid value for '--memory'"),
        (["--device", "tpu"], "--device 'tpu' is not a device"),
        (["--cuda-graphs", "--runtime", "int8"], "name two runtimes"),
        (["--dataset", "/nonexistent/hoot-data"], "dataset path '/nonexistent/hoot-data' does not exist"),
        (["--dataset-size", "10", "--dataset", "x"], "give --dataset-size or --dataset, not both"),
        (["--db", "/nonexistent/bench.sqlite"], "results database '/nonexistent/bench.sqlite' does not exist"),
        (["--format", "xml"], "Invalid value for '--format'"),
        (["--similarity", "alien"], "Invalid value for '--similarity'"),
    ],
)
def test_bad_input_is_one_line_exit_2(args, message, capsys):
    rc, out, err = run_main(args, capsys)
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hoot: error: "), err
    assert message in lines[0]
    assert out == ""


def test_dataset_path_errors(tmp_path, capsys):
    f = tmp_path / "file.txt"
    f.write_text("x")
    rc, _, err = run_main(["--dataset", str(f)], capsys)
    assert rc == 2 and "is a file" in err
    (tmp_path / "flat").mkdir()
    rc, _, err = run_main(["--dataset", str(tmp_path / "flat")], capsys)
    assert rc == 2 and "holds no class folders" in err
    (tmp_path / "empty" / "a").mkdir(parents=True)
    rc, _, err = run_main(["--dataset", str(tmp_path / "empty")], capsys)
    assert rc == 2 and "no images" in err


def test_dataset_scan_feeds_guidance_and_input_size(tmp_path, capsys):
    for cls, n in (("ants", 6), ("bees", 4)):
        (tmp_path / "d" / cls).mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", (64, 64)).save(tmp_path / "d" / cls / f"{i}.png")
    rc, out, _ = run_main(["--target", "mobile", "--dataset", str(tmp_path / "d"), "--format", "json"], capsys)
    assert rc == 0
    doc = json.loads(out)
    assert doc["dataset"]["n_images"] == 10 and doc["dataset"]["per_class"] == {"ants": 6, "bees": 4}
    assert doc["guidance"]["strategy"]["name"] == "feature_extraction"
    assert doc["guidance"]["input_size"]["median_short_side_px"] == 64
    assert any("upsamples your images 3.5x" in r for r in doc["picks"][0]["reasons"])
    rc, out, _ = run_main(["--target", "mobile", "--dataset", str(tmp_path / "d")], capsys)
    assert "Fine-tuning: Strategy 1" in out and "Dataset " in out and "10 images in 2 classes" in out


# -- measurements from the results store (bench.store, issue 3 item 7) ----------------
def _store_rows(db, hardware_id, rows, device="cpu"):
    from hoot.bench.store import ResultStore, utc_now

    with ResultStore(db) as store:
        store.save_hardware({"hardware_id": hardware_id, "cpu_model": "Test CPU", "cpu_cores": 2,
                             "gpu_name": "Test GPU" if device == "cuda" else None})
        for variant, latency, peak in rows:
            store.add({"hardware_id": hardware_id, "variant": variant, "mode": "inference", "device": device,
                       "dtype": "fp32", "batch_size": 1, "input_size": 224, "native_input": True, "threads": 2,
                       "channels_last": False, "compile": False, "quick": False, "status": "ok",
                       "latency_ms": latency, "peak_memory_mb": peak, "measured_at": utc_now()})


@pytest.fixture
def measured_db(tmp_path):
    from hoot.bench.hardware import current_hardware_id

    db = tmp_path / "bench.sqlite"
    _store_rows(db, current_hardware_id(), [
        ("mobilenet_v3_large", 40.0, 300.0), ("shufflenet_v2_x1_0", 2.0, 90.0),
        ("mobilenet_v3_small", 1.5, 80.0), ("efficientnet_b0", 6.0, 200.0),
    ])
    _store_rows(db, "jetson-abcd1234", [("mobilenet_v3_large", 9.0, 700.0), ("resnet152", 30.0, 2000.0)], device="cuda")
    return db


def test_advise_ranks_on_this_machines_measurements(measured_db, capsys):
    # rewritten (issue 11.2): only 4 tiny models measured, so latency estimates stop at their GMACs range
    # and the ranking's cost falls back to GMACs for every model; the latency column keeps the figures
    rc, out, err = run_main(["--target", "mobile", "--db", str(measured_db), "--format", "json", "--top", "80"], capsys)  # the catalog grew (issue 19)
    assert rc == 0, err
    doc = json.loads(out)
    picks = {p["name"]: p for p in doc["picks"]}
    assert picks["mobilenet_v3_large"]["latency_ms"] == 40.0
    assert picks["mobilenet_v3_large"]["cost_source"] == "measured_latency"
    assert picks["mobilenet_v2"]["cost_source"] == "latency_estimated_from_gmacs"
    assert picks["mobilenet_v2"]["latency_low_ms"] <= picks["mobilenet_v2"]["latency_ms"]
    assert picks["efficientnet_b1"]["latency_ms"] is None  # 0.687 GMACs: outside 0.057-0.386
    assert doc["cost_unit"] == "GMACs" and "outside the measured range" in doc["cost_basis"]
    assert doc["setting"].startswith("cpu fp32 batch 1") and doc["figures"]["measured"] == 4
    rc, out, _ = run_main(["--target", "mobile", "--db", str(measured_db), "--top", "20"], capsys)
    assert "estimate " in out and "measured" in out and "Setting: cpu fp32 batch 1" in out


def test_latency_limit_uses_measurements(measured_db, capsys):
    rc, out, _ = run_main(["--target", "mobile", "--db", str(measured_db), "--max-latency-ms", "10",
                           "--format", "json", "--top", "50"], capsys)
    assert rc == 0
    names = [p["name"] for p in json.loads(out)["picks"]]
    assert "mobilenet_v3_large" not in names and "efficientnet_b0" in names
    # an estimate never satisfies the limit (issue 11.2): only the measured models pass
    assert set(names) <= {"shufflenet_v2_x1_0", "mobilenet_v3_small", "efficientnet_b0"}


def test_advise_on_another_stored_machine(measured_db, capsys):
    rc, out, err = run_main(["--target", "gpu-server", "--hardware", "jetson-abcd1234", "--db", str(measured_db),
                             "--format", "json", "--top", "200"], capsys)
    assert rc == 0
    doc = json.loads(out)
    p = next(p for p in doc["picks"] if p["name"] == "resnet152")
    # rewritten (issue 11.3): a batch-1 inference peak on the GPU no longer changes the memory tier
    assert p["latency_ms"] == 30.0 and p["memory_tier"] == "very_high" and p["memory_tier_source"] == "catalog"
    assert doc["hardware"]["hardware_id"] == "jetson-abcd1234"
    # gpu-server's default (throughput batch, half precision) is not stored: the output says what it ranks on
    assert doc["setting"].startswith("cuda fp32 batch 1") and "closest stored" in doc["store_note"]


def test_unknown_hardware_is_exit_2(measured_db, capsys):
    rc, _, err = run_main(["--hardware", "nosuchbox", "--db", str(measured_db)], capsys)
    assert rc == 2 and err.startswith("hoot: error:") and "nosuchbox" in err


def test_advise_never_imports_torch(tmp_path):
    (tmp_path / "d" / "a").mkdir(parents=True)
    Image.new("RGB", (40, 30)).save(tmp_path / "d" / "a" / "x.png")
    code = (
        "import sys\n"
        "from hoot.cli.main import main\n"
        f"rc = main(['advise', '--target', 'mobile', '--task', 'classification', '--dataset', {str(tmp_path / 'd')!r}])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision', 'numpy', 'pandas'))\n"
        "print('HEAVY', heavy, 'RC', rc)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "HEAVY [] RC 0" in res.stdout, res.stdout[-500:] + res.stderr[-2000:]


def test_store_without_this_machine_points_at_the_stored_ones(tmp_path, capsys):
    db = tmp_path / "other.sqlite"
    _store_rows(db, "jetson-abcd1234", [("mobilenet_v3_large", 9.0, 700.0)], device="cuda")
    rc, out, err = run_main(["--target", "mobile", "--db", str(db)], capsys)
    assert rc == 0 and "Cost (ranked in GMACs)" in out
    assert "no measurements for this machine" in err and "results exist for jetson-abcd1234" in err


def test_explain_says_why_a_model_is_in_or_out(capsys):
    rc, out, _ = run_main(["--target", "mobile", "--explain", "resnet152,mobilenet_v2,ssdlite320_mobilenet_v3_large,yolov8",
                           "--format", "json"], capsys)
    assert rc == 0
    ex = json.loads(out)["explain"]
    assert ex["resnet152"][0] == "resnet152: excluded by 5 constraint(s)"
    assert "  - target mobile max_params 10M: params 60.2M > 10M" in ex["resnet152"]
    assert ex["mobilenet_v2"][0].startswith("mobilenet_v2: meets every constraint, ranked")
    assert "Pareto layer" in ex["mobilenet_v2"][1] and "is at least as accurate and cheaper" in ex["mobilenet_v2"][1]
    assert "try --task detection" in ex["ssdlite320_mobilenet_v3_large"][0]
    assert "not in torchvision" in ex["yolov8"][0]
    rc, out, _ = run_main(["--target", "mobile", "--explain", "resnet152"], capsys)
    assert "Explain:" in out and "memory tier very_high not in low/medium" in out
    rc, _, err = run_main(["--target", "mobile", "--explain", "resnet15"], capsys)
    assert rc == 2 and "unknown model 'resnet15'; did you mean resnet152" in err


def test_explain_with_no_answer(capsys):
    rc, out, err = run_main(["--target", "mobile", "--max-params", "1M", "--explain", "squeezenet1_1", "--format", "json"],
                            capsys)
    assert rc == 1
    assert json.loads(out)["explain"]["squeezenet1_1"] == ["squeezenet1_1: excluded by 1 constraint(s)",
                                                         "  - --max-params 1M: params 1.24M > 1M"]


def test_a_crash_is_exit_3_not_the_no_answer_code(monkeypatch, capsys):
    """Issue 11.9: exit 1 means "nothing satisfies"; an internal error is 3."""
    import hoot.advisor.recommender.recommend as recommend_module

    def broken(*args, **kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(recommend_module, "recommend", broken)
    rc, _, err = run_main(["--target", "mobile"], capsys)
    assert rc == 3 and "internal error" in err
    rc, _, _ = run_main(["--target", "mobile", "--max-params", "1000"], capsys)
    assert rc == 3
    monkeypatch.undo()
    rc, _, err = run_main(["--target", "mobile", "--max-params", "1000"], capsys)
    assert rc == 1 and "no model satisfies" in err
