"""Class counts and imbalance, by seeds/004's dataset-size rules.

seeds/004's "Quick Decision Guide for Fine-Tuning" sorts datasets into size bands (100-1K,
1K-10K, 10K+ images; hoot.advisor.guidance.SIZE_RULES); a class counted on its own falls in
one too. A class in a lower band than the largest class is an imbalance (a problem: the model
sees it an order of magnitude less often); a class under the guide's smallest band (100) is
noted with the small-data advice.
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

from hoot.advisor.guidance import MIN_COVERED_IMAGES, SIZE_RULES
from hoot.trainer.health.findings import Finding, ImageRecord

#: (lowest count, name): seeds/004's bands (their lower bounds from SIZE_RULES) with "under 100" below them
_BANDS = ((0, f"under {MIN_COVERED_IMAGES}"), (MIN_COVERED_IMAGES, "100-1K"), (SIZE_RULES[1][0], "1K-10K"),
          (SIZE_RULES[2][0], "10K+"))


def size_band(n_images: int) -> tuple[int, str]:
    """(band index, band name) of a count in seeds/004's size bands (with 'under 100' below them)."""
    chosen = (0, _BANDS[0][1])
    for i, (low, name) in enumerate(_BANDS):
        if n_images >= low:
            chosen = (i, name)
    return chosen


def class_counts(records: Sequence[ImageRecord], classes: Sequence[str]) -> list[dict]:
    """Images per class and split (a multi-label image counts once per tag), classes in order."""
    per: dict[str, Counter] = {c: Counter() for c in classes}
    for rec in records:
        for label in rec.labels:
            per.setdefault(label, Counter())[rec.split] += 1
    rows = []
    for name, c in per.items():
        total = sum(c.values())
        rows.append({"class": name, "train": c["train"], "val": c["val"], "test": c["test"], "images": total,
                     "seeds_004_band": size_band(total)[1]})
    return rows


def balance_findings(rows: Sequence[dict]) -> list[Finding]:
    """imbalance for classes in a lower size band than the largest class; small-class under 100 images."""
    if not rows:
        return []
    largest = max(rows, key=lambda r: r["images"])
    top_band, top_name = size_band(largest["images"])
    out = []
    for r in rows:
        band, name = size_band(r["images"])
        ratio = largest["images"] / max(r["images"], 1)
        if band < top_band:
            out.append(Finding("imbalance", (), f"class '{r['class']}' has {r['images']} images ({name}), a lower seeds/004 size "
                               f"band than '{largest['class']}' ({largest['images']}: {top_name}); {ratio:.1f}x fewer: add images "
                               "or weight the loss", labels=(r["class"],)))
        if r["images"] < MIN_COVERED_IMAGES:
            out.append(Finding("small-class", (), f"class '{r['class']}' has {r['images']} images, under the 100 seeds/004's "
                               "guide starts at: use pretrained weights and a frozen backbone (Strategy 1)", labels=(r["class"],)))
    return out
