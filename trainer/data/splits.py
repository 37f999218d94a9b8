"""How a dataset is split into train, validation and held-out test: stratified by class, seeded,
and the rule for small classes (see trainer/data/dataset.py's module doc). Pure functions of the labels."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from hoot.advisor.errors import HootError


def min_images_per_class(draw_val: bool, draw_test: bool) -> int:
    """One image for training plus one for each split drawn from the class."""
    return 1 + int(draw_val) + int(draw_test)


def stratified_split3(labels: Sequence[int], val_fraction: float, test_fraction: float,
                      seed: int, groups: Sequence[int] | None = None) -> tuple[list[int], list[int], list[int]]:
    """Indices (train, val, test): per class a seeded shuffle; round(fraction x n) to test and to
    val, at least one each when the fraction is above 0, and at least one left for training
    (a class too small for that keeps its images in training; `check_split_sizes` refuses it).

    `groups` (a group id per image; near duplicates share one, see hoot.trainer.health.hashing)
    keeps each group on one side: the first image of a group stands for it in the draw and the
    rest follow it, so a copy of a training image never lands in test. Without groups, or
    with every image its own group, the split is the same as before."""
    if groups is not None:
        return _grouped(labels, groups, lambda reps: stratified_split3(reps, val_fraction, test_fraction, seed))
    rng = np.random.default_rng(seed)
    by_class: dict[int, list[int]] = {}
    for i, y in enumerate(labels):
        by_class.setdefault(int(y), []).append(i)
    train, val, test = [], [], []
    for c in sorted(by_class):
        idx = np.array(by_class[c])
        rng.shuffle(idx)
        n = len(idx)
        n_test = 0 if test_fraction <= 0 else max(1, round(test_fraction * n))
        n_val = 0 if val_fraction <= 0 else max(1, round(val_fraction * n))
        if n_test + n_val >= n:  # too small: everything to training, refused by the caller
            n_test = n_val = 0
        test.extend(idx[:n_test].tolist())
        val.extend(idx[n_test:n_test + n_val].tolist())
        train.extend(idx[n_test + n_val:].tolist())
    return sorted(train), sorted(val), sorted(test)


def shuffled_split3(n: int, val_fraction: float, test_fraction: float, seed: int, draw_val: bool = True,
                    draw_test: bool = True, groups: Sequence[int] | None = None) -> tuple[list[int], list[int], list[int]]:
    """Indices (train, val, test) of a seeded shuffle of `n` multi-label images (no one class to
    stratify by): round(fraction x n) to test and to val, at least one each when drawn. `groups`
    keeps each group on one side, as in `stratified_split3`."""
    if groups is not None:
        return _grouped([0] * n, groups, lambda reps: shuffled_split3(len(reps), val_fraction, test_fraction, seed,
                                                                      draw_val, draw_test))
    order = np.random.default_rng(seed).permutation(n)
    n_test = max(1, round(test_fraction * n)) if draw_test else 0
    n_val = max(1, round(val_fraction * n)) if draw_val else 0
    n_test, n_val = (n_test, n_val) if n_test + n_val < n else (int(draw_test), int(draw_val))
    return (sorted(order[n_test + n_val:].tolist()), sorted(order[n_test:n_test + n_val].tolist()),
            sorted(order[:n_test].tolist()))


def _grouped(labels: Sequence, groups: Sequence[int],
             split: Callable[[list], tuple[list[int], ...]]) -> tuple[list[int], ...]:
    """Split the groups' first members with `split`, then send every member where its first went."""
    first: dict[int, int] = {}
    for i, g in enumerate(groups):
        first.setdefault(int(g), i)
    reps = sorted(first.values())
    sides = split([labels[i] for i in reps])
    side_of = {reps[k]: side for side, chosen in enumerate(sides) for k in chosen}
    out: tuple[list[int], ...] = tuple([] for _ in sides)
    for i, g in enumerate(groups):
        out[side_of[first[int(g)]]].append(i)
    return out


def check_split_sizes(classes: list[str], labels: Sequence[int], draw_val: bool, draw_test: bool, root: str,
                      n_skipped: int) -> None:
    """A class too small to give training, validation and test an image each is a one-line error."""
    need = min_images_per_class(draw_val, draw_test)
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(classes)) if len(labels) else np.zeros(len(classes), int)
    small = [(classes[i], int(n)) for i, n in enumerate(counts) if 0 < n < need]
    if small:
        name, n = small[0]
        drawn = " and ".join(s for s, d in (("validation", draw_val), ("test", draw_test)) if d)
        unreadable = f" ({n_skipped} unreadable file(s) skipped)" if n_skipped else ""
        raise HootError(f"class '{name}' in '{root}' has {n} usable image(s){unreadable}; hoot draws {drawn} images per "
                        f"class, so each class needs at least {need}: add images, or give DATA/val/ and DATA/test/")


def stratified_split(labels: Sequence[int], val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices (train, val): per class, a seeded shuffle, then round(fraction * n) to val (at least one
    when the class has two or more images), so every class is seen in both splits."""
    rng = np.random.default_rng(seed)
    by_class: dict[int, list[int]] = {}
    for i, y in enumerate(labels):
        by_class.setdefault(int(y), []).append(i)
    train, val = [], []
    for c in sorted(by_class):
        idx = np.array(by_class[c])
        rng.shuffle(idx)
        n_val = 0 if len(idx) < 2 else min(len(idx) - 1, max(1, round(val_fraction * len(idx))))
        val.extend(idx[:n_val].tolist())
        train.extend(idx[n_val:].tolist())
    return sorted(train), sorted(val)


def split_rule(draw_val: bool, draw_test: bool, val_fraction: float, test_fraction: float, seed: int,
               share: str = "per class", method: str = "stratified") -> str:
    """The split in words for the report and dataset.json: what was given, what was drawn and how
    (each task says its own `share` and `method`, so no report calls a shuffle stratified)."""
    parts = [f"validation {'drawn from train: ' + format(val_fraction, 'g') + ' ' + share if draw_val else 'from DATA/val/'}",
             f"test {'drawn from train: ' + format(test_fraction, 'g') + ' ' + share if draw_test else 'from DATA/test/'}"]
    drawn = f" ({method}, seed {seed}, at least one image each)" if (draw_val or draw_test) else ""
    return "; ".join(parts) + drawn


def split_by_classes_present(label_sets: Sequence[Sequence[int]], val_fraction: float, test_fraction: float,
                             seed: int, groups: Sequence[int] | None = None) -> tuple[list[int], list[int], list[int]]:
    """Indices (train, val, test) for images that hold several classes (masks, boxes): each image is
    stratified by the rarest class it holds (so a rare class reaches every split when it can), strata
    too small to give each split an image pooled together; then `stratified_split3`'s rule. Seeded.
    `groups` keeps each group of near copies on one side, as in `stratified_split3`."""
    counts: dict[int, int] = {}
    for labels in label_sets:
        for c in set(labels):
            counts[c] = counts.get(c, 0) + 1
    need = min_images_per_class(val_fraction > 0, test_fraction > 0)
    strata = [min(set(labels), key=lambda c: (counts[c], c)) if labels else -1 for labels in label_sets]
    size: dict[int, int] = {}
    for s in strata:
        size[s] = size.get(s, 0) + 1
    pooled = [s if size[s] >= need else -1 for s in strata]
    return stratified_split3(pooled, val_fraction, test_fraction, seed, groups)
