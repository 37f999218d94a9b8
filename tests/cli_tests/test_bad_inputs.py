"""Every bad input a user may type, and what hoot answers: one table a reader can scan.

Each row: an id, the command line (`{tmp}` is the test's own folder, prepared by `setup`),
the exit code, and a pattern the single `hoot: error:` line must match. A good answer is
exit 2 (bad input) or 1 (no answer) with ONE line on stderr naming the input and the fix,
never a traceback. Sections by command; add a row where a new case is found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from hoot.cli.main import main


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    exit_code: int
    message: str  # regex the one stderr line must match
    setup: Callable[[Path], None] | None = None


def _nothing(tmp: Path) -> None:
    return None


# -- the command line itself ---------------------------------------------------------------
CLI_CASES = [
    Case("unknown option", ("advise", "--bogus"), 2, r"No such option '--bogus'"),
    Case("--debug after the subcommand", ("advise", "--bogus", "--debug"), 2, r"No such option '--bogus'"),
]

# -- hoot advise / hoot catalog --------------------------------------------------------------
ADVISE_CASES = [
    Case("advise unknown target", ("advise", "--target", "toaster"), 2, r"target 'toaster'"),
]

# -- hoot bench -------------------------------------------------------------------------------
BENCH_CASES = [
    Case("bench bad batch list", ("bench", "--models", "resnet18", "--batch-size", "0"), 2, r"--batch-size"),
]

# -- hoot shortlist / report / export / predict -----------------------------------------------
RUN_CASES = [
    Case("shortlist missing folder", ("shortlist", "{tmp}/nope"), 2, r"does not exist"),
]

# -- scale-out options of hoot shortlist -------------------------------------------------------
SCALEOUT_CASES: list[Case] = []

# -- hoot optimize -----------------------------------------------------------------------------
def _run_without_best_pt(tmp: Path) -> None:
    (tmp / "run1").mkdir()
    (tmp / "run1" / "config.json").write_text("{}")


OPTIMIZE_CASES = [
    Case("optimize unknown run", ("optimize", "{tmp}/nope"), 2, r"run '.*nope' not found"),
    Case("optimize run without best.pt", ("optimize", "run1", "--output", "{tmp}"), 2, r"has no best\.pt",
         setup=_run_without_best_pt),
    Case("optimize bad variant", ("optimize", "{tmp}/nope", "--variants", "eager,warp"), 2, r"unknown variant 'warp'"),
    Case("optimize zero calibration images", ("optimize", "{tmp}/nope", "--calibration-images", "0"), 2,
         r"--calibration-images '0' must be at least 1"),
    Case("optimize nan calibration images", ("optimize", "{tmp}/nope", "--calibration-images", "nan"), 2,
         r"--calibration-images 'nan' is not a finite number"),
    Case("optimize zero batch", ("optimize", "{tmp}/nope", "--batch-size", "0"), 2, r"--batch-size"),
    Case("optimize tiny timing size", ("optimize", "{tmp}/nope", "--image-size", "8"), 2, r"--image-size 8 is too small"),
]

CASES = CLI_CASES + ADVISE_CASES + BENCH_CASES + RUN_CASES + SCALEOUT_CASES + OPTIMIZE_CASES


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gets_one_clear_line(case: Case, tmp_path: Path, capsys) -> None:
    (case.setup or _nothing)(tmp_path)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in case.argv]
    code = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("hoot: error:") or line.startswith("hoot: no ")]
    assert code == case.exit_code, err
    assert "Traceback" not in err or "--debug" in case.argv, err
    assert len(lines) == 1, err
    assert re.search(case.message, lines[0]), lines[0]
