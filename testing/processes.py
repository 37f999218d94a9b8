"""Processes a test spawns (hoot roles, torchrun), reaped when the test ends whatever its outcome."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

#: every process spawn() started and reap() has not yet killed
SPAWNED: list[subprocess.Popen] = []


def interruptible() -> None:
    """A child's SIGINT as a terminal gives it. A test run started in the background by a shell without job
    control (`pytest &`, nohup) ignores SIGINT, every child inherits that, and Python then installs no
    KeyboardInterrupt handler: a test that presses Ctrl-C on a hoot process would see it run on. Popen's
    preexec_fn."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def spawn(cmd: list[str], folder: Path, tag: str, env: dict[str, str] | None = None,
          cwd: Path | None = None) -> subprocess.Popen:
    """Start cmd with stdout/stderr in folder/<tag>.out|.err; reap() kills it if still running."""
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=open(folder / f"{tag}.out", "w"),
                            stderr=open(folder / f"{tag}.err", "w"), preexec_fn=interruptible)
    SPAWNED.append(proc)
    return proc


def reap() -> None:
    """Kill and wait for every spawned process that still runs."""
    while SPAWNED:
        proc = SPAWNED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def hoot_command(*args: str) -> list[str]:
    """`hoot ARGS` as this interpreter runs it (the installed package, not a folder on the path)."""
    return [sys.executable, "-m", "hoot.cli", *args]


def toy_config(data: Path, out: Path, **overrides: Any) -> dict[str, Any]:
    """A shortlist config for the toy engine: 4 candidates, seed 0."""
    config = {"data_dir": str(data), "candidates": ["m1", "m2", "m3", "m4"], "output": str(out), "run_id": "run",
              "seed": 0}
    config.update(overrides)
    return config


def toy_env(log: Path, rung_s: float = 0.0, heartbeat_s: int = 1, **extra: str) -> dict[str, str]:
    """The environment of a toy role: where it logs, how long a rung sleeps, the heartbeat."""
    env = dict(os.environ)
    env.update({"HOOT_TOY_LOG": str(log), "HOOT_TOY_RUNG_S": str(rung_s),
                "HOOT_HEARTBEAT_SECONDS": str(heartbeat_s), "OMP_NUM_THREADS": "1"})
    env.update(extra)
    return env


def spawn_toy(config: dict[str, Any], options: dict[str, Any], env: dict[str, str], tag: str,
              folder: Path) -> subprocess.Popen:
    """One scale-out role against the toy engine in its own process."""
    cmd = [sys.executable, "-m", "hoot.testing.toy_main", json.dumps(config), json.dumps(options)]
    return spawn(cmd, folder, tag, env=env)


def executions(log: Path, exclude_pids: tuple[int, ...] = ()) -> list[tuple[str, str, int]]:
    """(event, candidate, rung) lines the toy engine wrote: 'start' and 'done'.

    exclude_pids: leave out a coordinator's own run (it re-trains the winner's last rung for the
    fine-tune's starting weights), to count what the workers ran.
    """
    if not log.exists():
        return []
    rows = []
    for line in log.read_text().splitlines():
        event, cand, rung, pid = line.split()
        if int(pid) not in exclude_pids:
            rows.append((event, cand, int(rung)))
    return rows
