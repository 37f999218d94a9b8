"""Planted-problem data for the health tests: made once per module, small (300 digits at 64 px)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def textured(rng: np.random.Generator, size: int = 64) -> Image.Image:
    """A distinct image (smooth random colours plus noise): distinct ones sit 16+ hash bits apart."""
    base = Image.fromarray(rng.integers(0, 256, (size // 8, size // 8, 3)).astype(np.uint8)).resize((size, size), Image.BICUBIC)
    noise = rng.integers(0, 40, (size, size, 3))
    return Image.fromarray(np.clip(np.asarray(base).astype(int) + noise, 0, 255).astype(np.uint8))


def make_clean(root: Path, classes: int = 3, per_class: int = 8, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for c in range(classes):
        (root / f"c{c}").mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            textured(rng).save(root / f"c{c}" / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    from hoot.testing.planted import make_planted

    return make_planted(tmp_path_factory.mktemp("planted") / "data", n_images=300, n_flips=12)


@pytest.fixture(scope="module")
def planted_report(planted):
    from hoot.trainer.health.doctor import DoctorOptions, run_doctor

    return run_doctor(planted.root, DoctorOptions(label_budget_s=600))
