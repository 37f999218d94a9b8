"""`hoot bench` through the CLI: one-line errors, a real measurement, resume, show/compare/export/import/report,
and Ctrl-C (exit 130, finished rows kept)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from hoot.cli.main import cli, main
from hoot.testing.processes import interruptible
from hoot.bench.store import ResultStore


def run(args, **kw):
    return CliRunner().invoke(cli, args, catch_exceptions=False, **kw)


def one_line_error(capsys, args, code=2, match=""):
    assert main(args) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("hoot: error:") and match in err[0], err
    return err[0]


def test_input_errors_are_one_line(capsys, db):
    one_line_error(capsys, ["bench", "--models", "resnet19", "--db", str(db)], match="unknown model 'resnet19'")
    one_line_error(capsys, ["bench", "--db", str(db)], match="nothing to measure")
    one_line_error(capsys, ["bench", "--models", "resnet18", "--batch-size", "1,x"], match="--batch-size")
    one_line_error(capsys, ["bench", "--family", "Transformers9"], match="unknown family")
    one_line_error(capsys, ["bench", "--target", "toaster"], match="unknown target 'toaster'")
    one_line_error(capsys, ["bench", "--models", "resnet18", "--dtype", "fp64"], match="fp64")
    one_line_error(capsys, ["bench", "show", "--db", str(db)], match="does not exist")


def test_cuda_without_gpu_and_fp16_on_cpu(capsys, db):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    one_line_error(capsys, ["bench", "--models", "resnet18", "--device", "cuda", "--db", str(db)],
                   match="sees no CUDA GPU")
    one_line_error(capsys, ["bench", "--models", "resnet18", "--dtype", "fp16", "--device", "cpu", "--db", str(db)],
                   match="fp16 runs on CUDA only")


def test_measure_resume_show_compare_export_import_report(tmp_path, db, capsys):
    args = ["bench", "--models", "squeezenet1_1,shufflenet_v2_x0_5", "--input-size", "32", "--quick",
            "--threads", "1", "--batch-size", "1,2", "--db", str(db), "--format", "json"]
    result = run(args)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == 4 and {r["status"] for r in rows} == {"ok"}
    assert all(r["latency_ms"] > 0 and r["iterations"] >= 3 and r["threads"] == 1 for r in rows)
    assert "measuring 2 model(s)" in result.stderr and "2/2" in result.stderr  # progress on stderr

    again = run(args)  # resume: nothing left to measure
    assert "4 measurement(s) already stored" in again.stderr and "measuring 0 model(s)" in again.stderr
    assert len(json.loads(again.stdout)) == 4

    shown = run(["bench", "show", "--db", str(db), "--models", "squeezenet1_1", "--format", "csv"])
    assert shown.exit_code == 0 and shown.stdout.count("squeezenet1_1") == 2

    cmp = run(["bench", "compare", "this,batch=1", "this,batch=2", "--db", str(db), "--format", "json"])
    assert cmp.exit_code == 0, cmp.output
    pairs = json.loads(cmp.stdout)
    assert {p["variant"] for p in pairs} == {"squeezenet1_1", "shufflenet_v2_x0_5"}
    for p in pairs:
        assert p["latency_ratio"] == pytest.approx(p["latency_ms_b"] / p["latency_ms_a"])

    for fmt in ("json", "csv"):
        out = tmp_path / f"export.{fmt}"
        assert run(["bench", "export", "--db", str(db), "--format", fmt, "-o", str(out)]).exit_code == 0
        other = tmp_path / f"other-{fmt}.sqlite"
        imported = run(["bench", "import", str(out), "--db", str(other)])
        assert "imported 4 row(s)" in imported.stdout
        with ResultStore(other) as s1, ResultStore(db) as s2:
            strip = lambda rs: [{k: v for k, v in r.items() if k != "id"} for r in rs]  # noqa: E731
            assert strip(s1.rows()) == strip(s2.rows())

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "hoot-bench", "rows": [rows[0], {**rows[1], "status": "great"}]}))
    one_line_error(capsys, ["bench", "import", str(bad), "--db", str(db)], match="row 2: field 'status' is 'great'")
    one_line_error(capsys, ["bench", "compare", "this", "nowhere", "--db", str(db)], match="known hardware ids")

    report_dir = tmp_path / "report"
    rep = run(["bench", "report", "--db", str(db), "--output", str(report_dir)])
    assert rep.exit_code == 0, rep.output
    for name in ("index.md", "index.html", "top1_vs_latency.png", "latency_vs_gmacs.png", "peak_memory.png"):
        assert (report_dir / name).stat().st_size > 0, name
    assert "squeezenet1_1" in (report_dir / "index.md").read_text()


def test_ctrl_c_exits_130_and_keeps_finished_rows(tmp_path, db):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "hoot.cli", "bench", "--models",
         "squeezenet1_1,shufflenet_v2_x0_5,mobilenet_v3_small,resnet18,resnet34,resnet50",
         "--input-size", "64", "--threads", "1", "--db", str(db)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
        preexec_fn=interruptible)
    deadline = time.time() + 120
    stored = 0
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.3)
        if db.exists():
            try:
                stored = sqlite3.connect(db).execute("SELECT COUNT(*) FROM measurements").fetchone()[0]
            except sqlite3.OperationalError:
                stored = 0
            if stored >= 1:
                break
    assert stored >= 1 and proc.poll() is None, "the run ended before it could be interrupted"
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole foreground group
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    with ResultStore(db) as store:
        rows = store.rows()
    assert len(rows) >= stored and all(r["status"] == "ok" for r in rows)
    assert len(rows) < 6


def test_int8_runtime_through_the_cli(db):
    pytest.importorskip("onnxruntime")
    result = run(["bench", "--models", "squeezenet1_1", "--runtime", "int8", "--calibration-batches", "2",
                  "--input-size", "32", "--quick", "--threads", "1", "--db", str(db), "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == 1 and rows[0]["status"] == "ok" and rows[0]["latency_ms"] > 0
    assert rows[0].get("runtime", "int8") == "int8"  # the column arrives with the store's schema change
    assert "int8" in result.stderr
