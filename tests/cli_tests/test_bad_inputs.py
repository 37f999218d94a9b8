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
    Case("bench threads above the cores", ("bench", "--models", "resnet18", "--threads", "9999"), 2, r"--threads"),
    Case("bench threads zero", ("bench", "--models", "resnet18", "--threads", "0"), 2, r"--threads"),
    Case("bench timeout nan", ("bench", "--models", "resnet18", "--timeout", "nan"), 2, r"--timeout"),
    Case("bench timeout inf", ("bench", "--models", "resnet18", "--timeout", "inf"), 2, r"--timeout"),
    Case("bench input size tiny", ("bench", "--models", "resnet18", "--input-size", "3"), 2, r"--input-size"),
    Case("bench calibration batches", ("bench", "--models", "resnet18", "--runtime", "int8",
                                       "--calibration-batches", "0"), 2, r"--calibration-batches"),
    Case("bench unknown runtime", ("bench", "--models", "resnet18", "--runtime", "tensorrt"), 2, r"tensorrt"),
    Case("bench compile and int8", ("bench", "--models", "resnet18", "--compile", "--runtime", "int8",
                                    "--db", "{tmp}/b.sqlite"), 2, r"two runtimes"),
    Case("bench graphs on the cpu", ("bench", "--models", "resnet18", "--cuda-graphs", "--device", "cpu",
                                     "--db", "{tmp}/b.sqlite"), 2, r"--cuda-graphs needs a CUDA device"),
]

# -- hoot shortlist / report / export / predict -----------------------------------------------
RUN_CASES = [
    Case("shortlist missing folder", ("shortlist", "{tmp}/nope"), 2, r"does not exist"),
]

# -- scale-out options of hoot shortlist -------------------------------------------------------
SCALEOUT_CASES: list[Case] = []

# -- hoot optimize -----------------------------------------------------------------------------
OPTIMIZE_CASES: list[Case] = []

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
