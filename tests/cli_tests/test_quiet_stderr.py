"""stderr carries hoot's lines, once each (issue 21: torchvision FutureWarnings, torch UserWarnings that cut
hoot's message mid-word, matplotlib's cache notice and "No CUDA runtime is found" reached the user)."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = r'''
import logging, sys, warnings
import hoot.cli.runs as runs
from hoot.advisor.errors import HootError

def noisy(*a, **k):
    warnings.warn("torchvision says: the pretrained argument is deprecated", FutureWarning)
    warnings.warn("torch says: TypedStorage is deprecated", UserWarning)
    logging.getLogger("matplotlib").warning("Matplotlib created a temporary cache directory at /tmp/x")
    logging.getLogger("torch.utils.cpp_extension").warning("No CUDA runtime is found, using CUDA_HOME='/usr'")
    raise HootError("refused to load 'best.pt': it holds Python objects that would run code")

import hoot.trainer.deploy.predict as predict
predict.predict_images = noisy
from hoot.cli.main import main
sys.exit(main(["predict", "run", "x.png"] + sys.argv[1:]))
'''


def _stderr(*extra: str, tmp) -> tuple[int, list[str]]:
    (tmp / "run").mkdir(exist_ok=True)
    (tmp / "run" / "config.json").write_text('{"run_id": "run"}')
    (tmp / "run" / "best.pt").write_bytes(b"x")
    proc = subprocess.run([sys.executable, "-W", "default", "-c", SCRIPT, *extra], cwd=tmp, capture_output=True,
                          text=True, timeout=120)
    return proc.returncode, [line for line in proc.stderr.splitlines() if line.strip()]


def test_library_warnings_stay_off_stderr(tmp_path) -> None:
    code, lines = _stderr(tmp=tmp_path)
    assert code == 2
    assert lines == ["hoot: error: refused to load 'best.pt': it holds Python objects that would run code"], lines


def test_debug_shows_them(tmp_path) -> None:
    code, lines = _stderr("--debug", tmp=tmp_path)
    assert any("FutureWarning" in line or "pretrained argument" in line for line in lines), lines
