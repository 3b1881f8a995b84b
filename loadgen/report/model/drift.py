"""Drift over a soak: a least-squares trend per series and one rule per kind of series. Pure.

A series drifts when its fitted slope is positive, the line explains the windows well (R² at least the
rule's minimum: a steady climb, not noise) and the fitted growth over the soak reaches the rule's minimum
(relative to the fitted start for memory and lag, in absolute points for ratios).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import linregress

MIN_WINDOWS = 4


@dataclass(frozen=True)
class DriftRule:
    """When a series counts as drifting."""

    min_r2: float
    min_growth: float
    relative: bool  # growth as a fraction of the fitted start (else absolute units)


MEMORY_RULE = DriftRule(min_r2=0.8, min_growth=0.10, relative=True)  # +10 % working set, steadily
LAG_RULE = DriftRule(min_r2=0.5, min_growth=0.20, relative=True)  # p95 lag +20 % at constant load
WER_RULE = DriftRule(min_r2=0.5, min_growth=0.02, relative=False)  # +2 WER points
ERROR_RULE = DriftRule(min_r2=0.5, min_growth=0.01, relative=False)  # +1 point of error ratio


@dataclass(frozen=True)
class SoakWindow:
    """One judged window of a soak (seconds from the soak's start to the window's middle)."""

    t_s: float
    clients: int
    lag_p95: float | None
    wer: float | None
    error_ratio: float | None
    memory_mib: dict[str, float] = field(default_factory=dict)  # largest working set, by replica name


@dataclass(frozen=True)
class Trend:
    """The fitted line of one series and whether it drifts."""

    series: str
    slope_per_h: float
    r2: float
    start: float  # fitted value at the first window
    end: float  # fitted value at the last window
    growth: float  # end - start, relative to start when the rule is relative
    relative: bool
    drifting: bool
    detail: str

    @property
    def change(self) -> str:
        """The growth as text: percent for relative rules, units otherwise."""
        return f"{self.growth:+.0%}" if self.relative else f"{self.growth:+.3f}"


@dataclass(frozen=True)
class DriftReport:
    """Trends of every series, the drifting ones, and why a judgement was impossible."""

    windows: int
    trends: list[Trend]
    constant_load: bool
    note: str | None = None

    @property
    def drifting(self) -> list[Trend]:
        """The trends that drift."""
        return [t for t in self.trends if t.drifting]


def fit_trend(
    name: str, times: Sequence[float], values: Sequence[float | None], rule: DriftRule
) -> Trend | None:
    """The least-squares line of `values` over `times` judged by `rule`; None below MIN_WINDOWS points."""
    pairs = [(t, v) for t, v in zip(times, values, strict=True) if v is not None and math.isfinite(v)]
    if len(pairs) < MIN_WINDOWS:
        return None
    t = np.array([p[0] for p in pairs], dtype=np.float64)
    y = np.array([p[1] for p in pairs], dtype=np.float64)
    if np.ptp(y) == 0 or np.ptp(t) == 0:
        slope, intercept, r2 = 0.0, float(y.mean()), 0.0
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = linregress(t, y)
        slope, intercept, r2 = float(fit.slope), float(fit.intercept), float(fit.rvalue) ** 2
    start, end = intercept + slope * t.min(), intercept + slope * t.max()
    growth = (end - start) / start if rule.relative and start > 0 else end - start
    drifting = slope > 0 and r2 >= rule.min_r2 and growth >= rule.min_growth
    relative = rule.relative and start > 0
    detail = _detail(growth, r2, rule, drifting)
    return Trend(name, slope * 3600, r2, start, end, growth, relative, drifting, detail)


def _detail(growth: float, r2: float, rule: DriftRule, drifting: bool) -> str:
    amount = f"{growth:+.0%}" if rule.relative else f"{growth:+.3f}"
    limit = f"{rule.min_growth:.0%}" if rule.relative else f"{rule.min_growth:.3f}"
    verdict = "drifts" if drifting else "steady"
    return f"{verdict}: {amount} over the soak (limit {limit}), R² {r2:.2f} (needs {rule.min_r2:.2f})"


def detect_drift(windows: Sequence[SoakWindow]) -> DriftReport:
    """Trend every series of the soak: lag p95, WER, error ratio, each replica's memory."""
    ordered = sorted(windows, key=lambda w: w.t_s)
    times = [w.t_s for w in ordered]
    constant = len({w.clients for w in ordered}) <= 1
    if len(ordered) < MIN_WINDOWS:
        note = f"{len(ordered)} soak window(s): drift needs at least {MIN_WINDOWS}"
        return DriftReport(len(ordered), [], constant, note)
    candidates = [
        fit_trend("transcript lag p95", times, [w.lag_p95 for w in ordered], LAG_RULE) if constant else None,
        fit_trend("WER", times, [w.wer for w in ordered], WER_RULE),
        fit_trend("error ratio", times, [w.error_ratio for w in ordered], ERROR_RULE),
    ]
    replicas = sorted({name for w in ordered for name in w.memory_mib})
    candidates += [
        fit_trend(f"memory {name}", times, [w.memory_mib.get(name) for w in ordered], MEMORY_RULE)
        for name in replicas
    ]
    varied = None if constant else "the client count changed between windows: lag drift is not judged"
    return DriftReport(len(ordered), [t for t in candidates if t is not None], constant, varied)
