"""Human numbers on the command line: `5M`, `5e6`, `500k`, `1.5G`, `5_000_000` -> an int.

One parser for every option that takes a count (`--max-params` in `hoot catalog` and
`hoot advise`), so the same spelling means the same number everywhere.
"""

from __future__ import annotations

import math
import re

from hoot.advisor.errors import HootError

#: suffix -> multiplier (case-insensitive; B = billion, as in "1.5B parameters")
SUFFIXES = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "b": 10**9}

_COUNT = re.compile(r"^\s*(?P<number>[0-9][0-9_]*(?:\.[0-9_]*)?(?:e[+-]?[0-9]+)?|\.[0-9]+(?:e[+-]?[0-9]+)?)"
                    r"\s*(?P<suffix>[kmgb]?)\s*$", re.IGNORECASE)


def parse_count(text: str | int | float, option_name: str) -> int:
    """`text` as a non-negative whole count; HootError naming `option_name` otherwise.

    >>> parse_count("5M", "--max-params"), parse_count("5e6", "--max-params"), parse_count("500k", "--max-params")
    (5000000, 5000000, 500000)
    """
    if isinstance(text, bool):
        raise HootError(f"{option_name} got {text!r}; give a count like 5M, 5e6 or 500k")
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        raw = str(text).strip()
        if raw.startswith("-"):
            raise HootError(f"{option_name} '{text}' is negative; give a count like 5M, 5e6 or 500k")
        m = _COUNT.match(raw)
        if not m:
            raise HootError(f"{option_name} '{text}' is not a number; give a count like 5M, 5e6 or 500k")
        value = float(m.group("number").replace("_", "")) * SUFFIXES[m.group("suffix").lower()]
    if math.isnan(value) or math.isinf(value):
        raise HootError(f"{option_name} '{text}' is not a finite number; give a count like 5M, 5e6 or 500k")
    if value < 0:
        raise HootError(f"{option_name} '{text}' is negative; give a count like 5M, 5e6 or 500k")
    return int(round(value))
