"""Fixtures for the trainer tests: drawn image folders (hoot.testing.images)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hoot.testing.images import make_imagefolder


@pytest.fixture
def shapes(tmp_path) -> Path:
    """3 classes x 12 images, 40 px."""
    return make_imagefolder(tmp_path / "shapes")


@pytest.fixture
def shapes_big(tmp_path) -> Path:
    """3 classes x 40 images, 32 px: enough for a short training run to learn something."""
    return make_imagefolder(tmp_path / "shapes_big", per_class=40, size=32)
