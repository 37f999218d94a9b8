"""Export and import files: CSV or JSON rows that carry their machine's description.

A file written by `hoot bench export` on one machine (a Jetson, a GPU server) is read
by `hoot bench import` on another; each row stands alone (hardware fields are prefixed
`hw_`), so a CSV opened in a spreadsheet still says where a figure came from.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from hoot.advisor.errors import HootError
from hoot.advisor.render import render
from hoot.bench.store import SCHEMA_VERSION

FORMAT_NAME = "hoot-bench"


def export_text(rows: list[dict[str, Any]], fmt: str) -> str:
    """Rows as a JSON document ({format, schema_version, rows}) or CSV text."""
    if fmt == "json":
        return json.dumps({"format": FORMAT_NAME, "schema_version": SCHEMA_VERSION, "rows": rows}, indent=1,
                          default=str)
    if fmt == "csv":
        return render(rows, "csv")
    raise HootError(f"export format '{fmt}' is unknown; use csv or json")


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """The rows of an export file (JSON document, JSON list, or CSV with a header)."""
    p = Path(path)
    if not p.is_file():
        raise HootError(f"import file '{p}' does not exist; pass a file written by `hoot bench export`")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise HootError(f"import file '{p}' cannot be read ({exc}); pass a UTF-8 CSV or JSON file") from None
    stripped = text.lstrip()
    if not stripped:
        raise HootError(f"import file '{p}' is empty; export rows with `hoot bench export`")
    if stripped[0] in "[{":
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise HootError(f"import file '{p}': invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
        if isinstance(doc, dict):
            if doc.get("format") not in (None, FORMAT_NAME) or "rows" not in doc:
                raise HootError(f"import file '{p}' is not a hoot bench export (expected 'format': '{FORMAT_NAME}' and 'rows')")
            version = doc.get("schema_version", SCHEMA_VERSION)
            if not isinstance(version, int) or version > SCHEMA_VERSION:
                raise HootError(f"import file '{p}' has schema version {version!r}; this hoot reads up to {SCHEMA_VERSION}")
            doc = doc["rows"]
        if not isinstance(doc, list):
            raise HootError(f"import file '{p}': expected a list of rows")
        return doc
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "variant" not in reader.fieldnames:
        raise HootError(f"import file '{p}' is neither JSON nor a CSV with a header row naming 'variant'")
    return [dict(r) for r in reader]
