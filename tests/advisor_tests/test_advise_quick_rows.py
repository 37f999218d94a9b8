"""--quick rows reach advice, marked, where they are a model's only figures in the setting (issue 21: after
`hoot bench --all --quick`, `advise --task detection` said "0 measured" because a full row of resnet18 existed)."""

from __future__ import annotations

import json
from pathlib import Path

from hoot.bench.store import ResultStore
from hoot.cli.main import main
from hoot.testing.bench_rows import make_row

HW = "test-cpu-00000000"
DETECTORS = ("fasterrcnn_mobilenet_v3_large_320_fpn", "ssdlite320_mobilenet_v3_large")


def _db(tmp: Path) -> Path:
    db = tmp / "bench.sqlite"
    with ResultStore(db) as store:
        store.add(make_row(variant="resnet18", native_input=True))  # one full-budget row
        for i, name in enumerate(DETECTORS):
            store.add(make_row(variant=name, family="x", task="detection", quick=True, native_input=True,
                               latency_ms=30.0 + i, input_size=320))
    return db


def test_quick_rows_are_the_detection_figures(tmp_path: Path, capsys) -> None:
    db = _db(tmp_path)
    code = main(["advise", "--task", "detection", "--db", str(db), "--hardware", HW, "--format", "json", "--top", "50"])
    out = capsys.readouterr().out
    assert code == 0, out
    doc = json.loads(out)
    picks = {p["name"] if "name" in p else p.get("variant"): p for p in doc["picks"]}
    measured = [p for p in picks.values() if p.get("latency_source") == "measured"]
    assert {p.get("name") or p.get("variant") for p in measured} == set(DETECTORS), doc["picks"]
    assert "only --quick figures" in json.dumps(doc)
