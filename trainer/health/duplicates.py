"""Exact duplicates, near duplicates, the same image under two labels, and leakage across splits:
one pass over the exact and near pairs of hoot.trainer.health.hashing.

Each pair is reported once, under what matters most about it: a pair that spans two splits is
a leak (the held-out figure sees a training image), a pair with two different labels is a
cross-label pair (reported as well when it also leaks), and the rest are duplicates.
"""

from __future__ import annotations

from typing import Sequence

from hoot.trainer.health.findings import Finding, ImageRecord
from hoot.trainer.health.hashing import Pair


def _label(rec: ImageRecord) -> str:
    return ";".join(rec.labels)


def pair_findings(records: Sequence[ImageRecord], pairs: Sequence[Pair]) -> list[Finding]:
    """Findings for the exact and near pairs among `records`."""
    out: list[Finding] = []
    for pair in pairs:
        a, b, bits = records[pair.i], records[pair.j], pair.bits
        how = "identical files" if pair.exact else f"near copies ({bits} bits apart)"
        paths, labels, splits = (a.path, b.path), (_label(a), _label(b)), (a.split, b.split)
        if a.split != b.split:
            where = " and ".join(f"{r.split} ({'folder' if r.split_source == 'folder' else 'drawn by hoot'})" for r in (a, b))
            out.append(Finding("leakage", paths, f"{how} in {where}", labels, splits, bits))
        if a.labels != b.labels:
            out.append(Finding("cross-label", paths, f"{how} labelled '{labels[0]}' and '{labels[1]}'", labels, splits, bits))
        elif a.split == b.split:
            kind = "exact-duplicate" if pair.exact else "near-duplicate"
            out.append(Finding(kind, paths, f"{how}, both '{labels[0]}' in {a.split}", labels, splits, bits))
    return out


def test_leaks_from_folder(findings: Sequence[Finding], records_by_path: dict[str, ImageRecord]) -> list[Finding]:
    """Leaks between a user's own test/ folder and the images hoot trains or selects on (train and
    val: what `hoot shortlist` refuses, since either inflates the held-out figure)."""
    out = []
    for f in findings:
        if f.kind != "leakage" or "test" not in f.splits:
            continue
        test_path = f.paths[f.splits.index("test")]
        if records_by_path[test_path].split_source == "folder":
            out.append(f)
    return out
