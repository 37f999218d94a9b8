"""Fixtures for catalog tests: a small valid catalog text to mutate (hoot.testing.catalogs)."""

from __future__ import annotations

import pytest

from hoot.testing.catalogs import VALID_ENTRY


@pytest.fixture
def valid_entry() -> str:
    return VALID_ENTRY
