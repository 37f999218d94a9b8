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


def check_number(value: float, option_name: str, *, integer: bool = False, minimum: float | None = None,
                 maximum: float | None = None, exclusive_minimum: bool = False, example: str = "") -> float:
    """`value` if finite and inside [minimum, maximum] (or (minimum, ...] when exclusive); else a
    one-line HootError naming the option, the rule and an example. The one numeric validator
    every command's options go through, so `--x 0` means the same everywhere."""
    hint = f"; e.g. {option_name} {example}" if example else ""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or math.isinf(value):
        raise HootError(f"{option_name} '{value}' is not a finite number{hint}")
    if integer and float(value) != int(value):
        raise HootError(f"{option_name} '{value}' is not a whole number{hint}")
    if minimum is not None and (value <= minimum if exclusive_minimum else value < minimum):
        rule = f"greater than {_fmt(minimum)}" if exclusive_minimum else f"at least {_fmt(minimum)}"
        raise HootError(f"{option_name} '{_fmt(value)}' must be {rule}{hint}")
    if maximum is not None and value > maximum:
        raise HootError(f"{option_name} '{_fmt(value)}' must be at most {_fmt(maximum)}{hint}")
    return int(value) if integer else float(value)


def parse_number(text: str | int | float, option_name: str, **rules: object) -> float:
    """`text` from the command line as a number, checked by `check_number`'s rules."""
    if isinstance(text, str):
        raw = text.strip().replace("_", "")
        try:
            value: float = int(raw) if re.fullmatch(r"[+-]?[0-9]+", raw) else float(raw)
        except ValueError:
            example = rules.get("example")
            hint = f"; e.g. {option_name} {example}" if example else ""
            raise HootError(f"{option_name} '{text}' is not a number{hint}") from None
    else:
        value = text
    return check_number(value, option_name, **rules)  # type: ignore[arg-type]


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
