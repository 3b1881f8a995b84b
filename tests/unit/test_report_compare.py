"""Comparing runs: the CI gate at its tolerance edge, and scaling efficiency."""

from __future__ import annotations

import pytest

from loadgen.report.model.compare import (
    INCONCLUSIVE,
    OK,
    REGRESSION,
    RunFigures,
    compare_runs,
    comparison_tables,
    figures,
    scaling,
)
from loadgen.report.model.report import RunInputs, build_report
from tests.run_dirs import manifest, records, step


def run(name: str, capacity: int | None, replicas: int | None = 1, lag: dict | None = None) -> RunFigures:
    return RunFigures(name, capacity, replicas, 0.05, lag or {}, {}, {})


@pytest.mark.parametrize(
    ("b", "tolerance", "verdict"),
    [
        (20, 5.0, OK),  # same
        (19, 5.0, OK),  # -5 %: exactly at the edge is still within
        (18, 5.0, REGRESSION),  # -10 %
        (18, 10.0, OK),  # -10 % with a 10 % tolerance
        (17, 10.0, REGRESSION),  # -15 %
        (30, 0.0, OK),  # better
        (None, 50.0, REGRESSION),  # B found no capacity at all
    ],
)
def test_regression_when_b_is_lower_by_more_than_the_tolerance(b, tolerance, verdict):
    result = compare_runs(run("A", 20), run("B", b), tolerance)
    assert result.verdict == verdict, result.reason


def test_change_is_reported_in_percent_of_a():
    result = compare_runs(run("A", 20), run("B", 18), 5.0)
    assert result.change_pct == pytest.approx(-10.0)
    assert "20 -> 18" in result.reason and "-10.0 %" in result.reason


def test_no_capacity_in_a_is_inconclusive():
    assert compare_runs(run("A", None), run("B", 10), 5.0).verdict == INCONCLUSIVE


def test_scaling_efficiency_against_one_replica():
    view = scaling([run("r3", 27, 3), run("r1", 10, 1), run("r2", 19, 2), run("unknown", 5, None)])
    assert [r.name for r in view.rows] == ["r1", "r2", "r3"]
    assert view.base == "r1" and view.skipped == ["unknown"]
    by = {r.name: r for r in view.rows}
    assert by["r2"].per_replica == pytest.approx(9.5)
    assert by["r2"].efficiency == pytest.approx(19 / (2 * 10))
    assert by["r3"].efficiency == pytest.approx(27 / (3 * 10))
    assert by["r1"].efficiency == pytest.approx(1.0)


def test_scaling_without_a_one_replica_run_uses_the_fewest_replicas():
    view = scaling([run("r4", 30, 4), run("r2", 20, 2)])
    assert view.base == "r2"
    assert {r.name: r.efficiency for r in view.rows}["r4"] == pytest.approx((30 / 4) / (20 / 2))


def test_scaling_base_without_capacity_gives_no_efficiency():
    view = scaling([run("r1", None, 1), run("r2", 10, 2)])
    assert view.base is None and all(r.efficiency is None for r in view.rows)


def test_a_lower_capacity_inside_the_spread_of_repeated_runs_is_no_regression():
    a = RunFigures("A", 4, 1, 0.05, {}, {}, {}, spread=(3, 4))
    inside = compare_runs(a, RunFigures("B", 3, 1, 0.05, {}, {}, {}, spread=(3, 4)), 5.0)
    assert inside.verdict == OK and inside.change_pct == pytest.approx(-25.0)
    assert "inside the runs' spread (A 3\N{EN DASH}4 vs B 3\N{EN DASH}4)" in inside.reason
    below = compare_runs(a, RunFigures("B", 2, 1, 0.05, {}, {}, {}, spread=(2, 2)), 5.0)
    assert below.verdict == REGRESSION  # B's best run is below A's worst


def test_the_p95_lag_change_is_inside_the_intervals_when_they_overlap():
    a = RunFigures("A", 4, 1, 0.05, {2: 0.30, 4: 0.30}, {}, {}, lag_p95_ci={2: (0.28, 0.33), 4: (0.28, 0.33)})
    b = RunFigures("B", 4, 1, 0.05, {2: 0.32, 4: 0.60}, {}, {}, lag_p95_ci={2: (0.30, 0.35), 4: (0.55, 0.70)})
    _, steps = comparison_tables(compare_runs(a, b, 5.0))
    change = steps.headers.index("p95 lag change")
    assert [row[change] for row in steps.rows] == ["inside the intervals", "+0.300 s"]


def test_figures_of_a_repeated_run_are_its_median_and_range(tmp_path):
    steps = [
        step(i, n, 0.3 if n <= cap else 0.9, float(n), repeat=r)
        for i, (r, n, cap) in enumerate(
            [
                (0, 2, 3),
                (0, 3, 3),
                (0, 4, 3),
                (1, 2, 4),
                (1, 4, 4),
                (1, 5, 4),
                (2, 2, 4),
                (2, 4, 4),
                (2, 5, 4),
            ]
        )
    ]
    report = build_report(RunInputs("runs/r", manifest(), records(steps), [], []))
    found = figures("r", report)
    assert found.capacity == 4 and found.spread == (3, 4) and found.low == 3
    assert (
        report.verdict.headline
        == "capacity 4 (median of 3 runs: 3, 4, 4; 2 of 3 runs at it; range 3\N{EN DASH}4)"
    )
    assert set(found.lag_p95_ci) == {2, 3, 4, 5}
