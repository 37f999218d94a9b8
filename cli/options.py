"""Numeric command-line options, validated at the edge by one rule set (hoot.advisor.units).

Every number a command takes goes through `Number`: NaN, infinities, zero, negatives and
absurd sizes get one line naming the option and an example, the same way in every command.
"""

from __future__ import annotations

from typing import Any, Callable

import click

from hoot.advisor.errors import HootError
from hoot.advisor.units import parse_count, parse_number


class BadNumber(click.BadParameter):
    """The validator's own line is already complete: no click prefix."""

    def format_message(self) -> str:
        return self.message


class Number(click.ParamType):
    """A finite int or float inside bounds; `count=True` also takes 5M / 500k."""

    name = "number"

    def __init__(self, *, integer: bool = False, minimum: float | None = None, maximum: float | None = None,
                 exclusive_minimum: bool = False, example: str = "", count: bool = False) -> None:
        self.rules: dict[str, Any] = {"integer": integer, "minimum": minimum, "maximum": maximum,
                                      "exclusive_minimum": exclusive_minimum, "example": example}
        self.count = count
        self.name = "integer" if integer else "number"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value is None:
            return None
        option = _option_name(param)
        try:
            if self.count:
                value = parse_count(value, option)
            return parse_number(value, option, **self.rules)
        except HootError as exc:
            raise BadNumber(exc.message, ctx=ctx, param=param) from None


def _option_name(param: click.Parameter | None) -> str:
    if param is None:
        return "value"
    opts = getattr(param, "opts", None) or [param.name or "value"]
    return max(opts, key=len)


def positive_int(maximum: int | None = None, example: str = "1") -> Number:
    """1, 2, ... (at most `maximum`)."""
    return Number(integer=True, minimum=1, maximum=maximum, example=example)


class Threads(Number):
    """torch threads: a positive integer no larger than the cores this process may use (one rule for every command)."""

    def __init__(self) -> None:
        super().__init__(integer=True, minimum=1, example="2")

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from hoot.advisor.devices import check_threads

        threads = super().convert(value, param, ctx)
        try:
            return check_threads(threads, _option_name(param))
        except HootError as exc:
            raise BadNumber(exc.message, ctx=ctx, param=param) from None


def non_negative_int(maximum: int | None = None, example: str = "0") -> Number:
    return Number(integer=True, minimum=0, maximum=maximum, example=example)


def positive_float(maximum: float | None = None, example: str = "1") -> Number:
    """> 0 and finite."""
    return Number(minimum=0, exclusive_minimum=True, maximum=maximum, example=example)


def non_negative_float(maximum: float | None = None, example: str = "0") -> Number:
    return Number(minimum=0, maximum=maximum, example=example)


def fraction(example: str = "0.2") -> Number:
    """Strictly between 0 and 1 (a share of the data)."""
    return Number(minimum=0, exclusive_minimum=True, maximum=0.95, example=example)


def percentage(example: str = "75") -> Number:
    return Number(minimum=0, maximum=100, example=example)


def positive_count(example: str = "5M") -> Number:
    """A count that may be spelled 5M, 5e6 or 500k; at least 1."""
    return Number(integer=True, minimum=1, example=example, count=True)


#: the advisor's hard limits: (option, keyword, type, metavar, help), declared once for advise and shortlist
ADVISOR_LIMITS: tuple[tuple[str, str, Number, str, str], ...] = (
    ("--max-latency-ms", "max_latency_ms", positive_float(example="25"), "MS",
     "Latency limit in the ranking's setting; only a measured latency satisfies it (an estimate cannot prove a "
     "limit: run `hoot bench`)."),
    ("--max-params", "max_params", positive_count(), "N", "Parameter limit, e.g. 5M or 5e6."),
    ("--max-gmacs", "max_gmacs", positive_float(example="2"), "G", "Multiply-add limit at the native input size (GMACs)."),
    ("--max-size-mb", "max_size_mb", positive_float(example="40"), "MB", "Weights file size limit."),
    ("--max-memory-mb", "max_memory_mb", positive_float(example="2000"), "MB",
     "Peak memory limit, compared like with like: measured inference peaks, or training memory (measured training "
     "rows, else the seeds/000 tier's upper bound)."),
    ("--min-top1", "min_top1", percentage(), "PCT",
     "Minimum accuracy: ImageNet top-1 % (classification), box mAP (detection), mIoU (segmentation)."),
)
LIMIT_NAMES = tuple(keyword for _, keyword, _, _, _ in ADVISOR_LIMITS)


def advisor_limits(command: Callable[..., Any]) -> Callable[..., Any]:
    """The advisor's limit options, typed and checked by one parser (hoot.advisor.units through
    `Number`), so `--max-params 5M` means the same in `hoot advise` and `hoot shortlist`."""
    for option, keyword, kind, metavar, text in reversed(ADVISOR_LIMITS):
        command = click.option(option, keyword, default=None, type=kind, metavar=metavar, help=text)(command)
    return command


def limits_given(values: dict[str, Any]) -> dict[str, Any]:
    """The limit options the user gave (keyword -> value), out of a command's keyword arguments."""
    return {name: values[name] for name in LIMIT_NAMES if values.get(name) is not None}
