"""The doctor's report folder: report.md, findings.json and a PNG per pair (side by side) and per
suspect image, so a person can see each problem before deleting anything.

Pictures are capped at MAX_PICTURES (the table lists every finding; a dataset with thousands of
duplicates needs the JSON, not thousands of PNGs). Written under reports/doctor-<time>/ or
--out, never into the data folder.
"""

from __future__ import annotations

from pathlib import Path

from hoot.advisor.render import render
from hoot.trainer.health.findings import KINDS, DoctorReport, Finding
from hoot.trainer.runfiles import atomic_write_json, atomic_write_text

MAX_PICTURES = 200
THUMB_PX = 128
TABLE_COLUMNS = {"pair": ("paths", "splits", "labels", "hamming_bits", "detail"),
                 "one": ("paths", "splits", "labels", "detail"),
                 "label": ("paths", "splits", "labels", "score", "detail"),
                 "class": ("labels", "detail")}


def columns_for(kind: str) -> tuple[str, ...]:
    if kind in ("exact-duplicate", "near-duplicate", "cross-label", "leakage"):
        return TABLE_COLUMNS["pair"]
    if kind == "label-error":
        return TABLE_COLUMNS["label"]
    if kind in ("imbalance", "small-class"):
        return TABLE_COLUMNS["class"]
    return TABLE_COLUMNS["one"]


def tables(report: DoctorReport, fmt: str = "table") -> list[tuple[str, str]]:
    """(title, rendered table) for the class counts and for each kind of finding present."""
    out = [("class counts", render(report.class_counts, fmt, ("class", "train", "val", "test", "images", "seeds_004_band")))]
    for kind in KINDS:
        found = report.of_kind(kind)
        if found:
            out.append((f"{kind} ({len(found)})", render([f.row() for f in found], fmt, columns_for(kind))))
    return out


def _picture(finding: Finding, path: Path) -> bool:
    """A PNG of the finding's images side by side (False when none can be read)."""
    from PIL import Image

    from hoot.trainer.data.pixels import to_rgb8

    thumbs = []
    for p in finding.paths:
        try:
            with Image.open(p) as im:
                im = to_rgb8(im)
                im.thumbnail((THUMB_PX, THUMB_PX))
                thumbs.append(im.copy())
        except (OSError, ValueError):
            continue
    if not thumbs:
        return False
    sheet = Image.new("RGB", (sum(t.width for t in thumbs) + 8 * (len(thumbs) - 1), max(t.height for t in thumbs)), "white")
    x = 0
    for t in thumbs:
        sheet.paste(t, (x, 0))
        x += t.width + 8
    sheet.save(path)
    return True


def write_report(report: DoctorReport, out_dir: Path) -> Path:
    """report.md (+ pictures/ and findings.json) in `out_dir`; returns the markdown's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    pictures = out_dir / "pictures"
    pictures.mkdir(exist_ok=True)
    atomic_write_json(out_dir / "findings.json", report.to_dict())
    lines = [f"# hoot doctor: {report.root}", "",
             f"{report.n_images} images, task {report.task}, layout {report.layout}; splits: {report.split_rule}.",
             f"Near duplicates: perceptual hash (imagehash.phash, 64 bits) at most {report.near_bits} bits apart.", ""]
    lines += [f"- {n}" for n in report.notes]
    lc = report.label_check
    if lc is not None and lc.ran:
        lines.append(f"- label check: {lc.method} (seed {lc.seed}, budget {lc.budget_s:g} s); out-of-fold accuracy "
                     f"{lc.oof_accuracy or 0:.3f} (how far to trust the suspects), {lc.cpu_s:.1f} s CPU")
    elif lc is not None:
        lines.append(f"- label check not run: {lc.reason}")
    lines += ["", f"**{'clean' if not report.problems else str(len(report.problems)) + ' problem(s)'}**", ""]
    drawn = 0
    for title, table in tables(report, "markdown"):
        lines += [f"## {title}", "", table, ""]
        kind = title.split(" (")[0]
        for k, f in enumerate(report.of_kind(kind) if kind in KINDS else []):
            if not f.paths or drawn >= MAX_PICTURES:
                continue
            name = f"{kind}-{k:04d}.png"
            if _picture(f, pictures / name):
                lines.append(f"![{kind} {k}: {' | '.join(f.paths)}](pictures/{name})")
                drawn += 1
        lines.append("")
    if drawn >= MAX_PICTURES:
        lines.append(f"(pictures stop at {MAX_PICTURES}; findings.json lists every finding)")
    path = out_dir / "report.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path
