"""Images the scanner skipped or the decode refused, images too small to train on, and modes
hoot has to convert (alpha dropped, palettes expanded, 16-bit scaled)."""

from __future__ import annotations

from typing import Sequence

from hoot.trainer.health.findings import Finding, ImageRecord
from hoot.trainer.health.hashing import ImageFacts

#: the smallest short side hoot trains at (hoot.trainer.training.context.MIN_IMAGE_SIZE: five
#: stride-2 stages need 32 px); a smaller image is upsampled and carries little detail
TINY_PX = 32
#: the modes hoot reads as they are; anything else is converted to RGB on load
PLAIN_MODES = ("RGB", "L")
_MODE_NOTES = {"RGBA": "alpha channel dropped", "LA": "alpha channel dropped", "PA": "alpha dropped",
               "P": "palette expanded", "CMYK": "colours converted from print inks", "1": "1-bit image",
               "I;16": "16-bit values scaled", "I": "32-bit values scaled", "F": "float values scaled"}


def image_findings(records: Sequence[ImageRecord], facts: Sequence[ImageFacts],
                   skipped: Sequence[dict[str, str]] = ()) -> list[Finding]:
    """unreadable (skipped by the scan or failing to decode), tiny and odd-mode findings."""
    out = [Finding("unreadable", (s["path"],), s["reason"]) for s in skipped]
    for rec, fact in zip(records, facts):
        where = dict(labels=("; ".join(rec.labels),), splits=(rec.split,))
        if not fact.ok:
            out.append(Finding("unreadable", (rec.path,), fact.error, **where))
            continue
        if min(fact.width, fact.height) < TINY_PX:
            out.append(Finding("tiny", (rec.path,), f"{fact.width}x{fact.height} px, under the {TINY_PX} px hoot trains at", **where))
        if fact.mode not in PLAIN_MODES:
            note = _MODE_NOTES.get(fact.mode, "converted to RGB")
            out.append(Finding("odd-mode", (rec.path,), f"mode {fact.mode}: {note} when hoot reads it as RGB", **where))
    return out
