"""Knees of the load curves with Kneedle (the `kneed` package). Pure.

The lag knee is where p95 lag vs clients (convex, increasing) starts to climb steeply; the goodput
knee is where goodput vs clients (concave, increasing) stops growing in proportion.
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from kneed import KneeLocator

MIN_POINTS = 3


@dataclass(frozen=True)
class Knees:
    """Client counts at the knees; None where the curve has no knee or too few points."""

    lag_p95: float | None
    goodput: float | None


def find_knee(x: Sequence[float], y: Sequence[float | None], curve: str, direction: str) -> float | None:
    """The Kneedle knee of y(x); repeated x are averaged, non-finite points dropped."""
    xs, ys = _mean_by_x(x, y)
    if len(xs) < MIN_POINTS or max(ys) == min(ys):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kneed warns "No knee/elbow found" and returns None
        knee = KneeLocator(xs, ys, curve=curve, direction=direction).knee
    return None if knee is None else float(knee)


def find_knees(
    clients: Sequence[float], lag_p95: Sequence[float | None], goodput: Sequence[float | None]
) -> Knees:
    """The lag knee (convex increasing) and the goodput knee (concave increasing)."""
    return Knees(
        lag_p95=find_knee(clients, lag_p95, "convex", "increasing"),
        goodput=find_knee(clients, goodput, "concave", "increasing"),
    )


def _mean_by_x(x: Sequence[float], y: Sequence[float | None]) -> tuple[list[float], list[float]]:
    groups: dict[float, list[float]] = defaultdict(list)
    for xi, yi in zip(x, y, strict=True):
        if math.isfinite(xi) and yi is not None and math.isfinite(yi):
            groups[float(xi)].append(float(yi))
    xs = sorted(groups)
    return xs, [sum(groups[v]) / len(groups[v]) for v in xs]
