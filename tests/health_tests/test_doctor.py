"""`hoot doctor` on digits with planted problems: every exact copy and every leak found, near
copies (JPEG q60, a few px smaller) found, label flips recovered above a floor."""

from __future__ import annotations

import json
from pathlib import Path

from hoot.cli.main import main

from .conftest import make_clean

#: floors for the label check on 300 digits with 12 flips + 3 cross-label copies (measured:
#: see benchmarks/doctor_recall.py; the test holds a margin below)
LABEL_RECALL_FLOOR = 0.5
LABEL_PRECISION_FLOOR = 0.3


def _pairs(report, kind):
    return {frozenset(f.paths) for f in report.of_kind(kind)}


def test_every_exact_duplicate_found(planted, planted_report):
    found = _pairs(planted_report, "exact-duplicate")
    assert all(frozenset(p) in found for p in planted.exact)


def test_near_duplicates_found(planted, planted_report):
    found = _pairs(planted_report, "near-duplicate")
    assert all(frozenset(p) in found for p in planted.near)
    assert all(f.hamming_bits is not None and f.hamming_bits <= planted_report.near_bits for f in planted_report.of_kind("near-duplicate"))


def test_cross_label_copies_found(planted, planted_report):
    found = _pairs(planted_report, "cross-label")
    assert all(frozenset(p) in found for p in planted.cross_label)


def test_every_leak_found_and_none_in_drawn_splits(planted, planted_report):
    leaks = planted_report.of_kind("leakage")
    found = {frozenset(f.paths) for f in leaks}
    assert all(frozenset(p) in found for p in planted.leaks)
    # val is drawn by hoot's group-aware split: no leak may touch it
    assert all("val" not in f.splits for f in leaks)


def test_label_flips_recovered(planted, planted_report):
    wrong = set(planted.flipped) | {copy for _, copy in planted.cross_label}
    flagged = {f.paths[0] for f in planted_report.of_kind("label-error")}
    assert planted_report.label_check.ran, planted_report.label_check.reason
    recall = len(flagged & set(planted.flipped)) / len(planted.flipped)
    precision = len(flagged & wrong) / max(len(flagged), 1)
    assert recall >= LABEL_RECALL_FLOOR and precision >= LABEL_PRECISION_FLOOR, (recall, precision)


def test_cli_exit_1_json_paths_and_report(planted, tmp_path, capsys):
    out = tmp_path / "rep"
    code = main(["doctor", str(planted.root), "--no-label-check", "--format", "json", "--out", str(out)])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and not doc["clean"]
    assert any(Path(p).is_file() for f in doc["findings"] for p in f["paths"])
    assert (out / "report.md").is_file() and list((out / "pictures").glob("leakage-*.png"))
    assert not any(p.name.startswith("doctor") for p in planted.root.rglob("*"))  # nothing written into the data


def test_cli_exit_0_when_clean(tmp_path, capsys):
    data = make_clean(tmp_path / "clean")
    before = sorted(p.name for p in data.rglob("*"))
    code = main(["doctor", str(data), "--no-label-check", "--out", str(tmp_path / "rep")])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "clean" in err
    assert sorted(p.name for p in data.rglob("*")) == before


def test_multilabel_sidecars(tmp_path):
    """Tag sidecars: a copy under other tags is a cross-label pair; the label check runs multi-label."""
    import shutil

    import numpy as np

    from hoot.trainer.health.doctor import DoctorOptions, run_doctor

    from .conftest import textured

    rng = np.random.default_rng(3)
    data = tmp_path / "tags"
    data.mkdir()
    for i in range(30):
        textured(rng).save(data / f"{i}.png")
        (data / f"{i}.txt").write_text(["cat", "dog", "cat, indoor"][i % 3])
    shutil.copyfile(data / "0.png", data / "copy.png")
    (data / "copy.txt").write_text("dog")
    report = run_doctor(data, DoctorOptions(folds=3))
    assert report.task == "multilabel"
    assert {frozenset(f.paths) for f in report.of_kind("cross-label")} == {frozenset((str(data / "0.png"), str(data / "copy.png")))}
    assert report.label_check.ran, report.label_check.reason
