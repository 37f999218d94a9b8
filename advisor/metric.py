"""A metric and which way is better, defined once for ranking, promotion and Optuna studies."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Direction = Literal["maximize", "minimize"]


@dataclass(frozen=True)
class Metric:
    """`val_top1` is maximised; a loss or a time (`val_loss`, `latency_ms`) is minimised."""

    name: str
    direction: Direction

    @classmethod
    def named(cls, name: str) -> "Metric":
        """The metric `name` with its direction by the field's naming: losses and `_ms` times go down."""
        lower = name.lower()
        minimize = "loss" in lower or lower.endswith("_ms") or lower.endswith("_s") or lower.startswith("error")
        return cls(name, "minimize" if minimize else "maximize")

    def better(self, a: float | None, b: float | None) -> bool:
        """Is `a` strictly better than `b`? A missing or NaN value is never better."""
        if a is None or (isinstance(a, float) and math.isnan(a)):
            return False
        if b is None or (isinstance(b, float) and math.isnan(b)):
            return True
        return a > b if self.direction == "maximize" else a < b

    def sort_key(self, value: float | None) -> float:
        """Ascending sort puts the best first; missing values last."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return math.inf
        return -value if self.direction == "maximize" else value
