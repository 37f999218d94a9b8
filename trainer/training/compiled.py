"""Optional compiled (`torch.compile`) and CUDA-graph (`mode="reduce-overhead"`) training steps.

Why optional and measured: compiling costs tens of seconds per model, and a bake-off rung of
a small model is often shorter than that, so compiling only pays when the steps it saves
outweigh its own time. `compile_benefit` measures it (compile time = the first calls' time
beyond a steady step) and projects both over the run's step count; `--compile auto` takes
the faster, `off` (the default) never compiles, `default` / `reduce-overhead` always do
(reduce-overhead replays the forward and backward as CUDA graphs, which removes the kernel
launch cost that binds small models on a big GPU).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

from torch import nn

log = logging.getLogger(__name__)

COMPILE_MODES = ("off", "auto", "default", "reduce-overhead")


@dataclass(frozen=True)
class CompileDecision:
    """The measured case for compiling (all seconds; projections over `run_steps` steps)."""

    mode: str  # the mode used: "off", "default" or "reduce-overhead"
    run_steps: int = 0
    compile_seconds: float | None = None
    eager_step_s: float | None = None
    compiled_step_s: float | None = None
    source: str = "default: off"

    @property
    def projected_eager_s(self) -> float | None:
        return None if self.eager_step_s is None else self.eager_step_s * self.run_steps

    @property
    def projected_compiled_s(self) -> float | None:
        if self.compiled_step_s is None or self.compile_seconds is None:
            return None
        return self.compile_seconds + self.compiled_step_s * self.run_steps

    def as_dict(self) -> dict:
        return {"compile": self.mode, "compile_source": self.source, "compile_seconds": self.compile_seconds,
                "eager_step_s": self.eager_step_s, "compiled_step_s": self.compiled_step_s,
                "compile_run_steps": self.run_steps}


def compile_model(model: nn.Module, mode: str) -> nn.Module:
    """`model` compiled in `mode` ('default' or 'reduce-overhead'); 'off' returns it unchanged."""
    if mode == "off":
        return model
    if mode not in ("default", "reduce-overhead"):
        raise ValueError(f"compile mode '{mode}' is not one of default, reduce-overhead")
    import torch

    return torch.compile(model, mode=mode)


def _timed(run: Callable[[], None], n: int, timer: Callable[[], float], sync: Callable[[], None]) -> float:
    sync()
    t0 = timer()
    for _ in range(n):
        run()
    sync()
    return timer() - t0


def compile_benefit(eager_step: Callable[[], None], compiled_step: Callable[[], None], run_steps: int, mode: str,
                    *, first_calls: int = 3, timed_steps: int = 10, timer: Callable[[], float] = time.perf_counter,
                    sync: Callable[[], None] = lambda: None) -> CompileDecision:
    """Time eager steps (after warm-up), the compiled step's first calls (they compile and, for
    reduce-overhead, record graphs), then steady compiled steps; compile when compile time plus
    `run_steps` compiled steps beats `run_steps` eager steps."""
    _timed(eager_step, 2, timer, sync)
    eager = _timed(eager_step, timed_steps, timer, sync) / timed_steps
    first = _timed(compiled_step, first_calls, timer, sync)
    steady = _timed(compiled_step, timed_steps, timer, sync) / timed_steps
    compile_s = max(0.0, first - first_calls * steady)
    use = compile_s + steady * run_steps < eager * run_steps
    return CompileDecision(mode if use else "off", run_steps, compile_s, eager, steady,
                           f"measured: {mode} {'faster' if use else 'slower'} over {run_steps} steps incl. compile")
