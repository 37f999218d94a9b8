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
def _images(tmp: Path) -> None:
    from hoot.testing.images import make_imagefolder

    make_imagefolder(tmp / "data", per_class=5)


def _unreadable(tmp: Path) -> None:
    for c in ("a", "b"):
        (tmp / "data" / c).mkdir(parents=True)
        (tmp / "data" / c / "zero.png").write_bytes(b"")
        (tmp / "data" / c / "text.jpg").write_text("not an image")
        (tmp / "data" / c / "cut.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")


def _config_only(tmp: Path) -> None:
    (tmp / "run").mkdir()
    (tmp / "run" / "config.json").write_text('{"data_dir": "x", "run_id": "run"}')


def _broken_bakeoff(tmp: Path) -> None:
    _config_only(tmp)
    (tmp / "run" / "bakeoff.json").write_text('{"winner": ')


def _fake_best(tmp: Path) -> None:
    _config_only(tmp)
    (tmp / "run" / "best.pt").write_bytes(b"not a checkpoint")
    (tmp / "file").write_text("x")


def _code_running_best(tmp: Path) -> None:
    import torch

    _config_only(tmp)
    torch.save({"hoot_checkpoint": 1, "payload": Path("/")}, tmp / "run" / "best.pt")  # a global outside the allowlist


SHORT = ("--candidates", "mobilenet_v3_small", "--no-pretrained", "--output", "{tmp}/out")
RUN_CASES = [
    Case("shortlist missing folder", ("shortlist", "{tmp}/nope"), 2, r"does not exist"),
    Case("shortlist --epochs nan", ("shortlist", "{tmp}", "--epochs", "nan", *SHORT), 2, r"--epochs 'nan' is not a finite number"),
    Case("shortlist --threads 0", ("shortlist", "{tmp}", "--threads", "0", *SHORT), 2, r"--threads '0' must be at least 1"),
    Case("shortlist --patience -1", ("shortlist", "{tmp}", "--patience", "-1", *SHORT), 2, r"--patience '-1' must be at least 0"),
    Case("shortlist --test-fraction 0", ("shortlist", "{tmp}", "--test-fraction", "0", *SHORT), 2, r"--test-fraction '0'"),
    Case("shortlist --batch-size 1e9", ("shortlist", "{tmp}", "--batch-size", "1000000000", *SHORT), 2, r"--batch-size .* at most"),
    Case("shortlist val+test leave no training", ("shortlist", "{tmp}/data", "--val-fraction", "0.5", "--test-fraction", "0.5", *SHORT),
         2, r"leave under 10% for training", _images),
    Case("shortlist only unreadable files", ("shortlist", "{tmp}/data", *SHORT), 2, r"were unreadable", _unreadable),
    Case("shortlist --output is a file", ("shortlist", "{tmp}/data", "--candidates", "mobilenet_v3_small", "--no-pretrained",
                                          "--output", "{tmp}/outfile"), 2, r"--output folder .* is a file",
         lambda tmp: _images(tmp) or (tmp / "outfile").write_text("x")),
    Case("report on a run with config.json only", ("report", "{tmp}/run"), 2, r"no bakeoff.json.*--resume run", _config_only),
    Case("report on a broken bakeoff.json", ("report", "{tmp}/run"), 2, r"bakeoff.json' is broken", _broken_bakeoff),
    Case("export on a run without best.pt", ("export", "{tmp}/run"), 2, r"has no best.pt yet.*--resume run", _config_only),
    Case("predict on a run without best.pt", ("predict", "{tmp}/run", "x.png"), 2, r"has no best.pt yet", _config_only),
    Case("predict with no image", ("predict", "{tmp}/run"), 2, r"no images given"),
    Case("export a truncated best.pt", ("export", "{tmp}/run"), 2, r"best.pt' cannot be read .*delete it", _fake_best),
    Case("export --out under a file", ("export", "{tmp}/run", "--out", "{tmp}/file/model.onnx"), 2,
         r"--out folder .* is a file, not a folder", _fake_best),
    Case("predict with a code-running best.pt", ("predict", "{tmp}/run", "x.png"), 2,
         r"refused to load .*best.pt.*would run code", _code_running_best),
    Case("report on an unknown run id", ("report", "nope", "--output", "{tmp}"), 2, r"run 'nope' not found"),
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
