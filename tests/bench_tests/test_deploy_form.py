"""Which form a bench row timed (schema version 4, `deploy_form`): hoot folds MobileOne, RepViT, FastViT, LeViT
and EfficientViT-M before timing inference, so their inference rows from an older store or export file timed a
slower network than ships. Those rows are kept and marked `unfolded`; a re-run measures them again and advise
says so. New rows say `folded` or `as_built`."""

from __future__ import annotations

import json
import sqlite3

import pytest

from hoot.advisor.recommender.costs import as_cost
from hoot.bench.exchange import check_import_rows
from hoot.bench.records import SettingsKey
from hoot.bench.schema import FOLDED_SINCE_V4, SCHEMA_VERSION
from hoot.bench.store import ResultStore
from hoot.bench.store_schema import V4_COLUMNS
from hoot.testing.bench_rows import make_row


def _version_3_file(path, rows) -> None:
    """A results database as hoot wrote it before it recorded the deployed form (schema version 3)."""
    with ResultStore(path) as store:
        for r in rows:
            store.add(r)
    conn = sqlite3.connect(path)
    for column in V4_COLUMNS:
        conn.execute(f"ALTER TABLE measurements DROP COLUMN {column}")
    conn.execute("PRAGMA user_version = 3")
    conn.commit()
    conn.close()


OLD_ROWS = [make_row(variant="mobileone_s1", family="MobileOne", measured_at="2026-01-01T00:00:00+00:00"),
            make_row(variant="mobileone_s1", family="MobileOne", mode="train", measured_at="2026-01-01T00:00:00+00:00"),
            make_row(variant="resnet18", measured_at="2026-01-01T00:00:00+00:00")]


def _form(rows, variant, mode="inference"):
    return next(r for r in rows if r["variant"] == variant and r["mode"] == mode)["deploy_form"]


def test_a_version_3_store_marks_the_rows_that_timed_the_training_form(db):
    _version_3_file(db, OLD_ROWS)
    with ResultStore(db) as store:
        rows = store.rows()
        assert _form(rows, "mobileone_s1") == "unfolded"
        assert _form(rows, "mobileone_s1", "train") is None and _form(rows, "resnet18") is None  # training keeps branches
        assert [r["latency_ms"] for r in rows] == [20.0, 20.0, 20.0]  # nothing measured is lost
        # resume measures the unfolded row again and skips the others
        assert not store.has(SettingsKey.from_row(OLD_ROWS[0]))
        assert store.has(SettingsKey.from_row(OLD_ROWS[1])) and store.has(SettingsKey.from_row(OLD_ROWS[2]))
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4


def test_a_read_only_version_3_store_reads_the_same_marks(db):
    _version_3_file(db, OLD_ROWS)
    db.chmod(0o444)
    db.parent.chmod(0o555)
    try:
        with ResultStore(db, readonly=True) as store:
            rows = store.rows()
            assert _form(rows, "mobileone_s1") == "unfolded" and "deploy_form" not in _row_of(rows, "resnet18")
    finally:
        db.parent.chmod(0o755)
        db.chmod(0o644)


def _row_of(rows, variant):
    return next(r for r in rows if r["variant"] == variant)


def test_a_new_folded_row_is_measured_once(db):
    with ResultStore(db) as store:
        store.add(make_row(variant="mobileone_s1", family="MobileOne", deploy_form="folded"))
        assert store.has(SettingsKey.from_row(make_row(variant="mobileone_s1")))
        assert store.rows()[0]["deploy_form"] == "folded"


def test_an_export_file_from_before_version_4_is_marked_on_import():
    rows = [{k: v for k, v in r.items()} for r in OLD_ROWS]
    doc = json.loads(json.dumps({"format": "hoot-bench", "schema_version": 3, "rows": rows}))
    cleaned = check_import_rows(doc["rows"], "old.json")
    forms = {(c["variant"], c["mode"]): c.get("deploy_form") for c, _ in cleaned}
    assert forms == {("mobileone_s1", "inference"): "unfolded", ("mobileone_s1", "train"): None,
                     ("resnet18", "inference"): None}


def test_a_deploy_form_hoot_does_not_know_is_refused():
    with pytest.raises(Exception, match="deploy_form"):
        check_import_rows([make_row(deploy_form="melted")], "bad.json")


def test_advise_reads_an_unfolded_figure_as_such():
    assert as_cost({"latency_ms": 3.0, "deploy_form": "unfolded"}).unfolded
    assert not as_cost({"latency_ms": 3.0, "deploy_form": "folded"}).unfolded and not as_cost({"latency_ms": 3.0}).unfolded


def test_the_list_of_models_folded_since_version_4_is_what_timm_folds():
    """FOLDED_SINCE_V4 freezes which catalog models changed form in version 4; every one of them folds."""
    import torch

    timm = pytest.importorskip("timm")
    from hoot.bench.sources.timm import folds

    for name in FOLDED_SINCE_V4:
        with torch.device("meta"):
            model = timm.create_model(name, pretrained=False)
        assert folds(model), name
    with torch.device("meta"):
        assert not folds(timm.create_model("lcnet_100", pretrained=False))


def test_advise_says_it_ranks_on_an_unfolded_row(db, monkeypatch):
    from click.testing import CliRunner

    from hoot.cli.main import cli

    monkeypatch.setattr("hoot.bench.hardware.current_hardware_id", lambda: make_row()["hardware_id"])
    _version_3_file(db, [make_row(variant=name, latency_ms=ms, measured_at="2026-01-01T00:00:00+00:00")
                         for name, ms in (("mobileone_s1", 9.0), ("resnet18", 20.0), ("mobilenet_v3_small", 3.0))])
    out = CliRunner().invoke(cli, ["advise", "--db", str(db), "--task", "classification"])
    assert out.exit_code == 0, out.output
    note = next(line for line in out.stdout.splitlines() if line.startswith("Note: unfolded"))
    assert "1 latency figure(s) were timed in the training form" in note and "mobileone_s1" in note
    assert "rerun `hoot bench`" in note
    assert "1 of 3 measured latencies timed the training form" in " ".join(out.stderr.split())
