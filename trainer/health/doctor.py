"""`hoot doctor`: the dataset's problems before the bake-off, and the cheap checks `hoot shortlist`
runs first (`preflight`).

The scan is hoot's one scanner (hoot.trainer.tasks.scanning.scan_dataset), run with the near-
duplicate groups so the splits it draws are the ones `hoot shortlist` trains on. Everything
after the scan works on ImageRecord rows (path, labels, split), so a layout that produces rows
(detection and segmentation, once their readers land behind the task interface) is checked
the same way. Each image is decoded once (hoot.trainer.health.hashing); nothing is written
into the data folder.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from hoot.advisor.dataset_scan import find_splits
from hoot.advisor.errors import HootError
from hoot.trainer.data.dataset import DatasetScan
from hoot.trainer.tasks import get_task
from hoot.trainer.tasks.scanning import scan_dataset, scan_for
from hoot.trainer.health.balance import balance_findings, class_counts
from hoot.trainer.health.duplicates import pair_findings, test_leaks_from_folder
from hoot.trainer.health.findings import CheckTiming, DoctorReport, Finding, ImageRecord, LabelCheckSummary
from hoot.trainer.health.hashing import NEAR_HAMMING_BITS, HashIndex, cache_path_for
from hoot.trainer.health.image_checks import image_findings
from hoot.trainer.health.label_check import DEFAULT_BUDGET_S, DEFAULT_FOLDS, find_label_issues



@dataclass(frozen=True)
class DoctorOptions:
    """The doctor's settings (the split settings are shortlist's, so it checks the splits shortlist draws)."""

    task: str = "auto"
    val_fraction: float = 0.2
    test_fraction: float = 0.2
    seed: int = 0
    near_bits: int = NEAR_HAMMING_BITS
    label_check: bool = True
    label_budget_s: float = DEFAULT_BUDGET_S
    folds: int = DEFAULT_FOLDS
    workers: int | None = None
    annotations: str | None = None  # detection: a COCO json outside DATA (as hoot shortlist --annotations)

    def __post_init__(self) -> None:
        if not 0 <= self.near_bits <= 32:
            raise HootError(f"--near-bits {self.near_bits} is outside 0-32 (of the 64-bit hash); 4 is the default")
        if self.folds < 2:
            raise HootError(f"--folds {self.folds}: cross-validation needs at least 2 folds; 5 is the default")


def records_from_scan(scan: DatasetScan) -> list[ImageRecord]:
    """The scan's three splits as rows; a split from a folder the user made is marked 'folder'."""
    given = set(find_splits(Path(scan.root)))
    return [ImageRecord(s.path, tuple(scan.classes[c] for c in (s.label if isinstance(s.label, tuple) else (s.label,))),
                        split, "folder" if split in given else "drawn")
            for split, samples in scan.split_items() for s in samples]


def _timed(timings: list[CheckTiming], name: str, started: float) -> float:
    now = time.perf_counter()
    timings.append(CheckTiming(name, now - started))
    return now


def cheap_findings(records: Sequence[ImageRecord], index: HashIndex, classes: Sequence[str],
                   skipped: Sequence[dict[str, str]] = (), timings: list[CheckTiming] | None = None) -> tuple[list[Finding], list[dict]]:
    """Image checks, duplicates, cross-label pairs, leakage and balance (no model): (findings, class count rows)."""
    timings = [] if timings is None else timings
    t = time.perf_counter()
    paths = [r.path for r in records]
    facts = index.facts(paths)
    t = _timed(timings, "decode_and_hash", t)
    findings = image_findings(records, facts, skipped)
    findings += pair_findings(records, index.pairs(paths))
    t = _timed(timings, "pairs", t)
    rows = class_counts(records, classes)
    findings += balance_findings(rows)
    return findings, rows


def _label_findings(records: Sequence[ImageRecord], index: HashIndex, classes: Sequence[str], multilabel: bool,
                    options: DoctorOptions) -> tuple[list[Finding], LabelCheckSummary]:
    facts = index.facts([r.path for r in records])
    usable = [i for i, f in enumerate(facts) if f.ok]
    pos = {c: i for i, c in enumerate(classes)}
    labels = [tuple(pos[label] for label in records[i].labels if label in pos) for i in usable]
    pixels = np.stack([facts[i].pixels for i in usable]) if usable else np.zeros((0, 16, 16, 3), np.uint8)
    issues, summary = find_label_issues(pixels, labels, len(classes), multilabel, options.folds, options.seed,
                                        options.label_budget_s)
    out = []
    for issue in issues:
        rec = records[usable[issue.index]]
        believed = ";".join(classes[c] for c in issue.predicted) or "(none)"
        out.append(Finding("label-error", (rec.path,), f"labelled '{';'.join(rec.labels)}', the out-of-fold model believes "
                           f"'{believed}' (label quality {issue.quality:.3f})", (";".join(rec.labels), believed),
                           (rec.split,), score=round(issue.quality, 4)))
    return out, summary


def run_doctor(data_dir: str | Path, options: DoctorOptions = DoctorOptions()) -> DoctorReport:
    """Scan `data_dir` the way `hoot shortlist` does, then run every check; the DoctorReport of what was found."""
    index = HashIndex(options.near_bits, options.workers)
    timings: list[CheckTiming] = []
    t = time.perf_counter()
    scan = scan_dataset(data_dir, options.task, options.val_fraction, options.seed, options.test_fraction,
                        annotations=options.annotations, grouper=index.groups)
    _timed(timings, "scan_and_split", t)
    records = records_from_scan(scan)
    findings, rows = cheap_findings(records, index, scan.classes, scan.skipped, timings)
    report = DoctorReport(str(data_dir), scan.task, scan.layout, len(records), scan.split_rule, options.near_bits,
                          rows, findings, timings=timings)
    groups = index.groups([r.path for r in records])
    kept = sum(n for n in Counter(groups).values() if n > 1)
    report.notes.append(f"splits drawn by hoot keep exact and near copies on one side (group-aware split: {kept} images "
                        "in groups of copies); a leak can only come from split folders you made")
    kind = get_task(scan.task).label_check
    if options.label_check and kind:
        t = time.perf_counter()
        found, report.label_check = _label_findings(records, index, scan.classes, kind == "multi", options)
        report.findings += found
        _timed(timings, "label_check", t)
    elif options.label_check:
        report.label_check = LabelCheckSummary(
            ran=False, reason=f"not for {scan.task}: it scores one label (or tag set) per image, and the annotations "
                              "here are masks or boxes, whose errors need a trained model's per-pixel or per-box output")
    else:
        report.label_check = LabelCheckSummary(ran=False, reason="off (--no-label-check)")
    return report


def _summary_line(findings: Sequence[Finding]) -> str:
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.kind] = counts.get(f.kind, 0) + 1
    return ", ".join(f"{n} {kind}" for kind, n in counts.items())


def preflight(config: Any) -> DatasetScan:
    """`hoot shortlist`'s cheap checks before it trains: scan with near duplicates grouped (so the
    splits it draws keep them on one side), warn about duplicates, leaks and imbalance, and refuse
    when the user's own test/ folder shares images with training unless `config.allow_leakage`."""
    index = HashIndex(cache=cache_path_for(config.data_dir))
    scan = scan_for(config, grouper=index.groups)
    records = records_from_scan(scan)
    findings, _ = cheap_findings(records, index, scan.classes)
    problems = [f for f in findings if f.is_problem and f.kind != "unreadable"]  # the scan lists unreadable files already
    leaks = test_leaks_from_folder(findings, {r.path: r for r in records})
    if leaks and not getattr(config, "allow_leakage", False):
        a, b = leaks[0].paths
        raise HootError(f"the test/ folder of '{config.data_dir}' shares {len(leaks)} image(s) with training or validation (exact or near "
                        f"copies, e.g. '{a}' and '{b}'), so the test figure would be inflated; remove them from test/ "
                        "(`hoot doctor DATA` lists them) or pass --allow-leakage")
    if problems:
        scan.warnings.append(f"hoot doctor's cheap checks found {_summary_line(problems)}; "
                             f"run `hoot doctor {config.data_dir}` for the list and pictures")
    return scan
