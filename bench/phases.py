"""Where a `hoot bench` run's time goes: named phases, summed, logged at DEBUG as one JSON line.

The child times its phases per job (build, setup, warm-up, timed calls, memory readout,
FLOP count, fvcore cross-check, heap trim) and sends them with `JobDone`; the runner adds
its own (the child's round trip, store writes, claims) and the CLI its (probe, hardware
fingerprint, planning, output). Each lands in the log as `phases {json}` with --debug, so
benchmarks/bench_cost.py can show what a run costs outside its timed work, measured
rather than guessed. No torch here.
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import contextmanager
from typing import Any, Iterator

PREFIX = "phases "


class Phases:
    """Seconds per named phase (summed when a phase repeats) plus counts such as warm-up calls."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    @contextmanager
    def time(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - t0)

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + float(seconds)

    def count(self, name: str, n: int) -> None:
        self.counts[name] = self.counts.get(name, 0) + int(n)

    def as_dict(self) -> dict[str, Any]:
        return {"seconds": {k: round(v, 4) for k, v in self.seconds.items()}, "counts": dict(self.counts)}


def log_phases(logger: logging.Logger, scope: str, fields: dict[str, Any]) -> None:
    """One DEBUG line `phases {"scope": ..., ...}` (cheap when DEBUG is off)."""
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(PREFIX + json.dumps({"scope": scope, "at": time.time(), **fields}, default=str))


def parse_phases(lines: Any) -> list[dict[str, Any]]:
    """The `phases` records in a run's stderr (lines as `hoot: phases {...}`)."""
    out = []
    for line in lines:
        at = line.find(PREFIX + "{")
        if at >= 0:
            try:
                out.append(json.loads(line[at + len(PREFIX):]))
            except ValueError:
                continue
    return out
