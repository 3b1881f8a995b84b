"""Kneedle knees of the lag and throughput curves."""

from __future__ import annotations

import pytest

from loadgen.report.model.knee import find_knee, find_knees
from loadgen.report.model.usl import usl_throughput
from tests.run_dirs import System

CLIENTS = [1, 2, 4, 6, 8, 10, 12, 14, 16, 20]


@pytest.mark.parametrize("knee", [6, 8, 12])
def test_lag_knee_is_where_p95_starts_to_climb(knee):
    system = System(knee=knee)
    found = find_knees(CLIENTS, [system.lag_p95(n) for n in CLIENTS], [system.throughput(n) for n in CLIENTS])
    assert found.lag_p95 is not None
    assert found.lag_p95 == knee


def test_throughput_knee_of_a_saturating_curve():
    throughput = [min(n, 8) * 1.0 for n in CLIENTS]  # linear up to 8 clients, flat after
    assert find_knee(CLIENTS, throughput, "concave", "increasing") == 8


def test_usl_throughput_knee_lies_below_its_peak():
    throughput = list(usl_throughput(CLIENTS, 1.0, 0.05, 0.004))
    knee = find_knees(CLIENTS, [0.3] * len(CLIENTS), throughput)
    assert knee.goodput is not None and 2 < knee.goodput < 15.4
    assert knee.lag_p95 is None  # a flat lag has no knee


def test_repeated_client_counts_are_averaged_and_missing_values_dropped():
    x = [1, 2, 2, 4, 8, 8, 12, 16]
    y = [0.3, 0.3, 0.31, 0.32, 0.4, None, 2.0, 6.0]
    assert find_knee(x, y, "convex", "increasing") is not None


@pytest.mark.parametrize(("x", "y"), [([1, 2], [0.3, 5.0]), ([1, 2, 4, 8], [1.0, 1.0, 1.0, 1.0]), ([], [])])
def test_too_few_points_or_a_flat_curve_gives_none(x, y):
    assert find_knee(x, y, "convex", "increasing") is None
