"""Export and import files: CSV or JSON rows that carry their machine's description.

A file written by `hoot bench export` on one machine (a Jetson, a GPU server) is read
by `hoot bench import` on another; each row stands alone (hardware fields are prefixed
`hw_`), so a CSV opened in a spreadsheet still says where a figure came from. The columns
are the store's (`schema.ROW_COLUMNS`); files of schema version 1 (a `compile` flag) are
read as runtime eager/compile.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from hoot.advisor.errors import HootError
from hoot.advisor.render import render
from hoot.bench.schema import HARDWARE_COLUMNS, SCHEMA_VERSION, mark_unfolded, validate_row

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


def write_export(path: str | Path, text: str) -> None:
    """Write an export file, or one HootError line saying why it cannot be written."""
    p = Path(path)
    if p.is_dir():
        raise HootError(f"export file '{p}' is a directory; pass a file path with -o")
    if not p.parent.is_dir():
        raise HootError(f"export file '{p}': folder '{p.parent}' does not exist; create it or pass another -o")
    try:
        p.write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        raise HootError(f"export file '{p}' cannot be written ({exc.strerror or exc}); pass a writable path with -o") from None


def check_import_rows(rows: Any, source: str, variants: set[str] | None = None
                      ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """[(clean row, hardware fields)] for every row, or a HootError naming the rows that are bad
    (a field's type or value, or a variant not in `variants`, the catalog)."""
    cleaned: list[tuple[dict[str, Any], dict[str, Any]]] = []
    problems: list[str] = []
    for index, raw in enumerate(rows, start=1):
        if not isinstance(raw, dict):
            problems.append(f"row {index}: is a {type(raw).__name__}, expected an object of fields")
            continue
        hw = {c: raw.get(f"hw_{c}") for c in HARDWARE_COLUMNS}
        body = mark_unfolded({k: v for k, v in raw.items() if not k.startswith("hw_") and k != "id"})
        clean, errors = validate_row(body, coerce=True)
        if variants is not None and isinstance(clean.get("variant"), str) and clean["variant"] not in variants:
            errors.append(f"variant '{clean['variant']}' is not in the catalog (`hoot catalog` lists them)")
        problems.extend(f"row {index}: {e}" for e in errors)
        if not errors:
            cleaned.append((clean, hw))
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise HootError(f"{source}: nothing imported; " + "; ".join(problems[:5]) + more)
    if not cleaned:
        raise HootError(f"{source}: no measurements in the file; export one with `hoot bench export`")
    return cleaned


#: the description fields that cannot differ between two rows of one machine
_IDENTITY_FIELDS = ("cpu_model", "cpu_cores", "arch", "gpu_count", "gpu_name")


def _same(a: Any, b: Any) -> bool:
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return str(a) == str(b)


def check_rows_about_this_machine(cleaned: list[tuple[dict[str, Any], dict[str, Any]]], mine: dict[str, Any],
                                  source: str) -> None:
    """A row that names this machine's hardware id but describes another machine (another core
    count, CPU or GPU) contradicts itself: refused, so it can never rewrite this machine's description."""
    for index, (clean, hw) in enumerate(cleaned, start=1):
        if clean["hardware_id"] != mine["hardware_id"]:
            continue
        for field in _IDENTITY_FIELDS:
            if hw.get(field) not in (None, "") and not _same(hw[field], mine.get(field)):
                raise HootError(f"{source}: nothing imported; row {index} names this machine's hardware_id "
                                f"'{clean['hardware_id']}' but says hw_{field} {hw[field]!r} (this machine: "
                                f"{mine.get(field)!r}); fix the row's hardware_id or its hw_ fields")
