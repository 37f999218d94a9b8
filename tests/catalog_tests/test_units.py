"""parse_count: the one parser for human counts (--max-params 5M / 5e6 / 500k)."""

from __future__ import annotations

import pytest

from hoot.advisor.errors import HootError
from hoot.advisor.units import parse_count


@pytest.mark.parametrize("text,expected", [
    ("5M", 5_000_000), ("5m", 5_000_000), ("5e6", 5_000_000), ("500k", 500_000), ("500K", 500_000),
    ("1.5G", 1_500_000_000), ("2B", 2_000_000_000), ("5000000", 5_000_000), ("5_000_000", 5_000_000),
    (" 3.5 M ", 3_500_000), ("0", 0), (".5k", 500), (7, 7), (2.5e6, 2_500_000),
])
def test_parse_count(text, expected):
    assert parse_count(text, "--max-params") == expected


@pytest.mark.parametrize("text,word", [
    ("-5M", "negative"), ("five", "not a number"), ("5X", "not a number"), ("", "not a number"),
    ("5MM", "not a number"), ("nan", "not a number"), (-1, "negative"), (float("inf"), "finite"),
])
def test_parse_count_rejects_and_names_option(text, word):
    with pytest.raises(HootError) as info:
        parse_count(text, "--max-params")
    assert "--max-params" in info.value.message and word in info.value.message
