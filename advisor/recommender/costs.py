"""The cost model of the recommender: measured figures of ONE setting, and honest estimates.

The advisor layer never imports the measurement layer: the CLI hands it `MeasuredCost`
records (plain figures copied from the stored rows of one setting). A model without a
measurement gets a latency estimate only where it is grounded: latency ~= scale * GMACs **
power, fitted on this setting's own measurements, and only for a model whose GMACs lie
inside the measured range; the estimate carries the interval the fit's own residuals give.
An estimate is never enough to satisfy a hard limit (see `constraints`). No torch import.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any, Mapping

#: measured latencies needed in one setting before unmeasured models get a latency estimate
MIN_FIT_POINTS = 3
#: allowed exponent of the latency ~ GMACs power law fitted on measurements
POWER_RANGE = (0.0, 1.5)
MODES = ("inference", "train")


@dataclass(frozen=True)
class MeasuredCost:
    """The figures of one stored row the recommender reads (copied by the CLI; no bench types)."""

    latency_ms: float | None = None
    latency_p10_ms: float | None = None
    latency_p90_ms: float | None = None
    converged: bool | None = None  # None: the row does not say
    peak_memory_mb: float | None = None
    memory_kind: str | None = None  # cuda_allocator | cpu_rss
    mode: str = "inference"  # inference | train
    device: str | None = None
    throughput_ips: float | None = None
    contended: bool | None = None  # timed while other processes held the cores or the GPU (None: not known)
    quick: bool = False  # a --quick row: the only figure of this model in the setting (said as such)
    unfolded: bool = False  # timed in its training form before hoot folded it (slower than it ships; said as such)

    @property
    def on_gpu(self) -> bool:
        return self.memory_kind == "cuda_allocator" or str(self.device or "").startswith("cuda")


def as_cost(row: Any) -> MeasuredCost:
    """A MeasuredCost from a MeasuredCost, a stored-row-like object or a plain dict of figures."""
    if isinstance(row, MeasuredCost):
        return row

    def get(name: str) -> Any:
        if isinstance(row, Mapping):
            return row.get(name)
        value = getattr(row, name, None)
        if value is None and isinstance(getattr(row, "extra", None), Mapping):  # a bench Measurement's other columns
            value = row.extra.get(name)
        if value is None and hasattr(row, "key"):  # a bench Measurement keeps mode and device on its key
            value = getattr(row.key, name, None)
        return value

    def num(name: str) -> float | None:
        value = get(name)
        return None if value is None else float(value)

    device = get("device")
    kind = get("memory_kind") or (None if device is None else ("cuda_allocator" if str(device).startswith("cuda")
                                                                else "cpu_rss"))
    converged = get("converged")
    contended = get("contended")
    return MeasuredCost(contended=None if contended is None else bool(contended), latency_ms=num("latency_ms"), latency_p10_ms=num("latency_p10_ms"),
                        latency_p90_ms=num("latency_p90_ms"), converged=None if converged is None else bool(converged),
                        peak_memory_mb=num("peak_memory_mb"), memory_kind=kind, mode=get("mode") or "inference",
                        device=device, throughput_ips=num("throughput_ips"), quick=bool(get("quick")),
                        unfolded=get("deploy_form") == "unfolded")


def fit_latency(points: list[tuple[float, float]]) -> tuple[float, float]:
    """(scale, power) of latency_ms = scale * gmacs ** power over (gmacs, latency_ms) points."""
    xs = [math.log(g) for g, _ in points]
    ys = [math.log(ms) for _, ms in points]
    if len(set(xs)) < 2:  # one distinct size: proportional scaling through the median ratio
        return statistics.median(ms / g for g, ms in points), 1.0
    power, _ = statistics.linear_regression(xs, ys)
    # noisy or odd measurements can tilt the slope: latency neither falls with work nor grows
    # much faster than it (POWER_RANGE); the intercept is refitted for the clamped slope
    power = min(max(power, POWER_RANGE[0]), POWER_RANGE[1])
    return math.exp(statistics.fmean(ys) - power * statistics.fmean(xs)), power


@dataclass(frozen=True)
class Estimate:
    latency_ms: float
    low_ms: float
    high_ms: float


@dataclass(frozen=True)
class CostModel:
    """How cost is computed: latency (measured, or estimated inside the measured range) or GMACs.

    `basis` is the one unit the ranking's cost is in: "latency" (ms) when every candidate has a
    measured or grounded latency, else "gmacs" for all (never the two mixed in one ranking).
    """

    basis: str  # latency | gmacs
    scale: float | None = None
    power: float | None = None
    gmacs_range: tuple[float, float] | None = None  # GMACs span of the fitted measurements
    ratio_range: tuple[float, float] = (1.0, 1.0)  # measured / fitted, lowest and highest
    text: str = ""

    def estimate(self, gmacs: float | None) -> Estimate | None:
        """A latency estimate with its interval, or None outside the measured GMACs range."""
        if self.scale is None or self.power is None or not gmacs or self.gmacs_range is None:
            return None
        lo, hi = self.gmacs_range
        if not lo <= gmacs <= hi:
            return None
        mid = self.scale * gmacs ** self.power
        return Estimate(mid, mid * self.ratio_range[0], mid * self.ratio_range[1])

    def estimate_ms(self, gmacs: float | None) -> float | None:
        found = self.estimate(gmacs)
        return None if found is None else found.latency_ms


def fitted_model(points: list[tuple[float, float]]) -> tuple[float, float, tuple[float, float], tuple[float, float]]:
    """(scale, power, GMACs range, residual ratio range) of a fit over (gmacs, latency_ms) points."""
    scale, power = fit_latency(points)
    ratios = [ms / (scale * g ** power) for g, ms in points]
    return scale, power, (min(g for g, _ in points), max(g for g, _ in points)), (min(ratios), max(ratios))


def build_cost_model(measured_gmacs_ms: list[tuple[float | None, float]], unmeasured_gmacs: list[float | None],
                     where: str, fitted: CostModel | None = None) -> CostModel:
    """The cost model for a pool: `measured_gmacs_ms` are the (GMACs, ms) of measured models,
    `unmeasured_gmacs` the GMACs of the rest; `where` names the hardware and setting; `fitted`:
    a fit made on a larger measured set (the whole catalog's) to reuse for this pool."""
    n_measured, n_pool = len(measured_gmacs_ms), len(measured_gmacs_ms) + len(unmeasured_gmacs)
    if n_measured and not unmeasured_gmacs:
        return CostModel("latency", text=f"latency in ms measured on {where} for every model")
    points = [(g, ms) for g, ms in measured_gmacs_ms if g]
    if fitted is not None or len(points) >= MIN_FIT_POINTS:
        if fitted is not None:
            scale, power, span, ratios = fitted.scale, fitted.power, fitted.gmacs_range, fitted.ratio_range
            points = [p for p in points if span[0] <= p[0] <= span[1]] or points
        else:
            scale, power, span, ratios = fitted_model(points)
        model = CostModel("latency", scale, power, span, ratios)
        grounded = sum(model.estimate(g) is not None for g in unmeasured_gmacs)
        fit = (f"latency ~= {scale:.3g} x GMACs^{power:.2f}, fitted on the measured models' "
               f"{span[0]:.3g}-{span[1]:.3g} GMACs")
        if grounded == len(unmeasured_gmacs):
            return CostModel("latency", scale, power, span, ratios,
                             text=f"latency in ms: {n_measured} of {n_pool} measured on {where}, {grounded} estimated "
                                  f"({fit}; interval from the fit's residuals)")
        return CostModel("gmacs", scale, power, span, ratios,
                         text=f"GMACs at the native input size: only {n_measured} of {n_pool} models are measured on "
                              f"{where} and {len(unmeasured_gmacs) - grounded} lie outside the measured range "
                              f"({fit}), so latency cannot rank them all; latency_ms shows the {n_measured} measured "
                              f"and {grounded} estimated inside the range")
    text = ("GMACs at the native input size (an estimate: no latency measured in this setting on this hardware; "
            "run `hoot bench` to rank on measured latency)")
    if n_measured:
        text = (f"GMACs at the native input size (an estimate: only {n_measured} of {n_pool} models measured on {where}, "
                f"fewer than {MIN_FIT_POINTS} to estimate the rest)")
    return CostModel("gmacs", text=text)
