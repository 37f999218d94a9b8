"""The layout holds: layer contracts (import-linter), module size, tests that cannot shadow hoot."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[2]
PRODUCT_FOLDERS = ("cli", "advisor", "bench", "trainer", "testing")
MAX_LINES = 400


def test_import_contracts_are_kept():
    """pyproject.toml's [tool.importlinter]: layers point down, sibling modules have no cycles."""
    assert lint_imports(config_filename=str(ROOT / "pyproject.toml")) == 0


def test_long_modules_say_why_in_their_docstring():
    """A module over about 400 lines is split by job, or its docstring says why it is not."""
    too_long = []
    for folder in PRODUCT_FOLDERS:
        for path in sorted((ROOT / folder).glob("**/*.py")):
            text = path.read_text(encoding="utf-8")
            if text.count("\n") > MAX_LINES:
                doc = ast.get_docstring(ast.parse(text)) or ""
                if "Long because" not in doc:
                    too_long.append(f"{path.relative_to(ROOT)} ({text.count(chr(10))} lines)")
    assert not too_long, f"split these by job or say 'Long because ...' in the docstring: {too_long}"


def test_no_test_folder_is_named_like_a_product_package():
    names = {p.name for p in (ROOT / "tests").iterdir() if p.is_dir()}
    assert not names & {"advisor", "bench", "trainer", "cli", "hoot", "testing"}, names
    assert not (ROOT / "tests" / "__init__.py").exists()


def test_tests_collect_from_outside_the_checkout(tmp_path):
    """`pytest <checkout>/tests/<folder>` from another directory finds every test module (no shadowing)."""
    folders = [str(p) for p in sorted((ROOT / "tests").iterdir()) if p.is_dir() and p.name.endswith("_tests")]
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *folders],
                          cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "error" not in proc.stdout.lower().split("\n")[-2], proc.stdout[-2000:]
