"""hoot doctor's recall and precision on planted problems (hoot.testing.planted: scikit-learn's
digits at 64 px with exact copies, near copies at JPEG quality 60 and 2-5 px smaller, copies
under another label, copies of training images in test/, and flipped labels).

Target (issue 20): every exact duplicate and every leak found; near duplicates found; label
flips recovered at a stated precision and recall (a flagged image counts as right when its
label is wrong: a flipped image or the mislabelled copy of a cross-label pair).

    .venv/bin/python benchmarks/doctor_recall.py [--images 1500] [--flips 45] [--seeds 0,1,2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hoot.advisor.render import render  # noqa: E402
from hoot.testing.planted import make_planted  # noqa: E402
from hoot.trainer.health.doctor import DoctorOptions, run_doctor  # noqa: E402


def _pair_recall(report, kind: str, planted: list[tuple[str, str]]) -> tuple[int, int, int]:
    found = {frozenset(f.paths) for f in report.of_kind(kind)}
    return sum(frozenset(p) in found for p in planted), len(planted), len(found)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=1500)
    ap.add_argument("--flips", type=int, default=45)
    ap.add_argument("--seeds", default="0,1,2")
    args = ap.parse_args()
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            truth = make_planted(Path(tmp) / "data", n_images=args.images, n_exact=10, n_near=10, n_cross=5, n_leaks=10,
                                 n_flips=args.flips, seed=seed)
            report = run_doctor(truth.root, DoctorOptions(seed=seed, label_budget_s=3600))
            row = {"seed": seed, "images": truth.n_images}
            for kind, planted in (("exact-duplicate", truth.exact), ("near-duplicate", truth.near),
                                  ("cross-label", truth.cross_label), ("leakage", truth.leaks)):
                hit, n, reported = _pair_recall(report, kind, planted)
                row[f"{kind}_found"] = f"{hit}/{n} ({reported} reported)"
            wrong = set(truth.flipped) | {copy for _, copy in truth.cross_label}
            flagged = {f.paths[0] for f in report.of_kind("label-error")}
            row["label_recall"] = len(flagged & set(truth.flipped)) / max(len(truth.flipped), 1)
            row["label_precision"] = len(flagged & wrong) / max(len(flagged), 1)
            row["oof_accuracy"] = report.label_check.oof_accuracy
            row["label_check_cpu_s"] = report.label_check.cpu_s
            rows.append(row)
    print(render(rows, "table", floatfmt=".3g"))


if __name__ == "__main__":
    main()
