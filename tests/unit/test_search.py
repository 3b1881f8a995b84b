"""Schedules and the knee search, driven by a pure pass/fail oracle."""

import pytest

from loadgen.core.search import (
    BISECT,
    EXPLICIT,
    GROW,
    AdaptiveSearch,
    ExplicitSearch,
    max_concurrent,
    outcome,
)


def _drive(search, capacity):
    """Run the search against a system that passes up to `capacity` clients; the steps it ran."""
    ran = []
    while (step := search.next()) is not None:
        ran.append((step.clients, step.phase))
        search.record(step.clients, step.clients <= capacity)
    return ran


@pytest.mark.parametrize("capacity", [1, 2, 3, 5, 6, 7, 12, 100])
def test_adaptive_search_finds_the_exact_knee(capacity):
    search = AdaptiveSearch(max_clients=256)
    _drive(search, capacity)
    assert max_concurrent(search.results) == capacity


def test_growth_then_bisection_with_phases():
    ran = _drive(AdaptiveSearch(), capacity=6)
    assert ran == [(1, GROW), (2, GROW), (4, GROW), (8, GROW), (6, BISECT), (7, BISECT)]


def test_even_one_client_failing_ends_the_search_without_capacity():
    search = AdaptiveSearch()
    assert _drive(search, capacity=0) == [(1, GROW)]
    found = outcome(search.results)
    assert found.capacity is None and found.reason == "even 1 client failed: no capacity found"


def test_never_failing_stops_at_max_clients_and_says_the_limit_was_not_reached():
    search = AdaptiveSearch(max_clients=10)
    ran = _drive(search, capacity=1000)
    assert [c for c, _ in ran] == [1, 2, 4, 8, 10]
    found = outcome(search.results)
    assert found.capacity == 10 and found.first_failure is None and "not reached" in found.reason


def test_percent_resolution_stops_bisecting_early():
    search = AdaptiveSearch(start=10, max_clients=1000, resolution_pct=10)
    ran = _drive(search, capacity=100)
    # 10, 20, 40, 80, 160 (fail), then bisect 80..160 until the gap is <= 10 % of the pass
    assert [c for c, _ in ran][:5] == [10, 20, 40, 80, 160]
    capacity = max_concurrent(search.results)
    assert 90 <= capacity <= 100
    assert len(ran) < len(_drive(AdaptiveSearch(start=10, max_clients=1000), capacity=100))


def test_small_factors_still_grow_by_at_least_one_client():
    ran = _drive(AdaptiveSearch(factor=1.1, max_clients=5), capacity=1000)
    assert [c for c, _ in ran] == [1, 2, 3, 4, 5]


def test_bad_adaptive_limits_are_refused():
    with pytest.raises(ValueError):
        AdaptiveSearch(start=5, max_clients=4)
    with pytest.raises(ValueError):
        AdaptiveSearch(factor=1.0)


def test_explicit_steps_stop_at_the_first_failure_unless_keep_going():
    assert _drive(ExplicitSearch([1, 2, 4, 8]), capacity=3) == [(1, EXPLICIT), (2, EXPLICIT), (4, EXPLICIT)]
    keep = ExplicitSearch([1, 2, 4, 8], keep_going=True)
    assert len(_drive(keep, capacity=3)) == 4
    assert max_concurrent(keep.results) == 2


def test_max_concurrent_is_the_largest_pass_below_the_smallest_failure():
    # a noisy pass above the first failure does not count
    assert max_concurrent([(1, True), (2, True), (4, False), (8, True), (3, True)]) == 3
    assert max_concurrent([(2, False), (1, True)]) == 1
    assert max_concurrent([]) is None
