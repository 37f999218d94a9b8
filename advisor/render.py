"""Render rows (a list of flat dicts) as table | json | csv | markdown, one function for all commands.

Data goes to stdout in the chosen format; commands keep progress and notes on stderr.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any, Iterable, Sequence

from hoot.advisor.errors import HootError

FORMATS = ("table", "json", "csv", "markdown")


def _cell(value: Any, floatfmt: str) -> Any:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return format(value, floatfmt)
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return value


def render(
    rows: Sequence[dict[str, Any]],
    fmt: str = "table",
    columns: Iterable[str] | None = None,
    floatfmt: str = ".3g",
    json_payload: Any | None = None,
) -> str:
    """Rows as text in `fmt`. `columns` picks and orders the columns for table/csv/markdown;
    json gets every field (or `json_payload` when a command wants a richer document)."""
    if fmt not in FORMATS:
        raise HootError(f"unknown format '{fmt}'; use one of {', '.join(FORMATS)}")
    if fmt == "json":
        return json.dumps(rows if json_payload is None else json_payload, indent=2, default=str)
    cols = list(columns) if columns is not None else _all_columns(rows)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: _csv_cell(row.get(c)) for c in cols})
        return buf.getvalue().rstrip("\n")
    from tabulate import tabulate  # imported here: only table/markdown need it

    body = [[_cell(row.get(c), floatfmt) for c in cols] for row in rows]
    return tabulate(body, headers=cols, tablefmt="github" if fmt == "markdown" else "simple", disable_numparse=True)


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ";".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, default=str)
    return value


def _all_columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            seen.setdefault(key, None)
    return list(seen)
