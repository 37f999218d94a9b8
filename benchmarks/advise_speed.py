"""How fast `hoot advise` answers, against the cost of merely importing torchvision.

Runs `hoot advise --target mobile --task classification` and `python -c "import torchvision"`
as fresh processes, interleaved (A, B, A, B, ...) so machine noise hits both alike, and
reports medians, spread and the ratio. Target (issue 2, item 6): ratio <= 0.15.

    .venv/bin/python benchmarks/advise_speed.py [--repeats 15] [--format table|json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_RATIO = 0.15


def _hoot() -> list[str]:
    exe = Path(sys.executable).with_name("hoot")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("hoot")
    return [found] if found else [sys.executable, "-m", "hoot.cli"]


def time_once(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    res = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True)
    elapsed = time.perf_counter() - start
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed (exit {res.returncode}): {res.stderr.strip()[-500:]}")
    return elapsed


def summary(times: list[float]) -> dict[str, float]:
    q = statistics.quantiles(times, n=10) if len(times) >= 2 else [times[0]] * 9
    return {"median_s": statistics.median(times), "p10_s": q[0], "p90_s": q[-1], "min_s": min(times), "n": len(times)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--format", choices=("table", "json"), default="table")
    args = parser.parse_args()
    env = dict(os.environ)
    env.setdefault("HOOT_DATA_DIR", tempfile.mkdtemp(prefix="hoot-bench-"))  # an empty store: the estimate path
    advise = _hoot() + ["advise", "--target", "mobile", "--task", "classification"]
    importer = [sys.executable, "-c", "import torchvision"]
    # one warm-up each: page cache, .pyc files
    time_once(advise, env)
    time_once(importer, env)
    t_advise, t_import = [], []
    for _ in range(args.repeats):
        t_advise.append(time_once(advise, env))
        t_import.append(time_once(importer, env))
    a, b = summary(t_advise), summary(t_import)
    ratio = a["median_s"] / b["median_s"]
    result = {
        "machine": f"{platform.node()} ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)",
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "hoot_advise": a,
        "import_torchvision": b,
        "ratio": ratio,
        "target_ratio": TARGET_RATIO,
        "pass": ratio <= TARGET_RATIO,
    }
    if args.format == "json":
        print(json.dumps(result, indent=2))
    else:
        print(f"{'command':<48}{'median s':>10}{'p10 s':>9}{'p90 s':>9}{'n':>5}")
        for label, s in (("hoot advise --target mobile --task classification", a), ('python -c "import torchvision"', b)):
            print(f"{label:<48}{s['median_s']:>10.3f}{s['p10_s']:>9.3f}{s['p90_s']:>9.3f}{s['n']:>5}")
        verdict = "PASS" if result["pass"] else "FAIL"
        print(f"ratio (median advise / median import) = {ratio:.3f}  target <= {TARGET_RATIO}  {verdict}")
        print(f"{result['machine']}, Python {result['python']}, {result['date']}")
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
