"""Goodput, the p95 lag interval from a histogram, and capacity over repeated searches (issue 15)."""

from __future__ import annotations

import math
import random

import pytest

from loadgen.core.goodput import goodput, on_time_share
from loadgen.core.latency_hist import encode, quantile_interval, share_at_most
from loadgen.core.records import WindowSnapshot
from loadgen.core.repeat import RepeatedCapacity


def _window(
    lags: list[float], transcribed_s: float, duration_s: float = 10.0, **extra: object
) -> WindowSnapshot:
    return WindowSnapshot.from_json(
        {
            "duration_s": duration_s,
            "transcribed_audio_s": transcribed_s,
            "throughput": transcribed_s / duration_s if duration_s else None,
            "histograms": {"transcript_lag": encode(lags)} if lags else {},
            **extra,
        }
    )


def test_the_on_time_share_counts_samples_at_or_below_the_slo() -> None:
    assert share_at_most([encode([0.1, 0.2, 0.5, 0.9])], 0.5) == 0.75
    assert share_at_most([encode([0.1]), encode([0.9])], 0.5) == 0.5  # histograms merge
    assert share_at_most([], 0.5) is None


def test_goodput_is_throughput_served_on_time_less_untranscribed_speech() -> None:
    on_time = _window([0.2] * 9 + [2.0], transcribed_s=40.0)
    assert on_time_share(on_time, 0.5) == pytest.approx(0.9)
    assert goodput(on_time, 0.5) == pytest.approx(40.0 * 0.9 / 10.0)
    skipped = _window([0.2] * 10, transcribed_s=40.0, audio_untranscribed_s=12.0)
    assert skipped.throughput == 4.0 and goodput(skipped, 0.5) == pytest.approx(2.8)
    assert goodput(_window([0.2], transcribed_s=1.0, audio_untranscribed_s=50.0), 0.5) == 0.0  # never < 0


def test_goodput_is_unknown_without_an_slo_or_a_lag_histogram_to_judge_by() -> None:
    assert goodput(_window([0.2], transcribed_s=10.0), None) is None
    assert goodput(_window([], transcribed_s=10.0), 0.5) is None  # frontiers advanced, nothing to judge
    assert goodput(_window([], transcribed_s=0.0), 0.5) == 0.0  # nothing was served
    assert goodput(_window([0.2], transcribed_s=1.0, duration_s=0.0), 0.5) is None


def test_the_p95_interval_holds_the_true_p95_about_95_times_in_100() -> None:
    rng = random.Random(15)
    true_p95 = -0.3 * math.log(0.05)  # exponential, mean 0.3 s
    trials, covered, widths = 400, 0, []
    for _ in range(trials):
        bounds = quantile_interval([encode([rng.expovariate(1 / 0.3) for _ in range(200)])])
        assert bounds is not None and bounds[0] <= bounds[1]
        covered += bounds[0] <= true_p95 <= bounds[1]
        widths.append(bounds[1] - bounds[0])
    assert 0.93 <= covered / trials <= 0.99  # 95 % nominal (the order statistics make it conservative)
    many = quantile_interval([encode([rng.expovariate(1 / 0.3) for _ in range(20_000)])])
    assert (
        many is not None and many[1] - many[0] < sorted(widths)[len(widths) // 2] / 5
    )  # n x 100: 10x narrower
    assert quantile_interval([]) is None


def test_a_few_samples_give_an_interval_to_the_largest_sample() -> None:
    bounds = quantile_interval([encode([0.1, 0.2, 0.3, 0.4, 0.5])])
    assert bounds == (pytest.approx(0.4, rel=1e-3), pytest.approx(0.5, rel=1e-3))


def test_runs_that_agree_read_as_one_capacity_with_its_range() -> None:
    assert RepeatedCapacity((4, 4, 4)).headline() == "capacity 4 (3 of 3 runs; range 4\N{EN DASH}4)"


def test_runs_that_disagree_give_the_median_and_the_range() -> None:
    assert RepeatedCapacity((3, 4, 4)).headline() == (
        "capacity 4 (median of 3 runs: 3, 4, 4; 2 of 3 runs at it; range 3\N{EN DASH}4)"
    )
    assert RepeatedCapacity((3, 4)).headline() == (
        "capacity 3.5 (median of 2 runs: 3, 4; no run at it; range 3\N{EN DASH}4)"
    )
    assert RepeatedCapacity((None, 2, 2)).headline() == (
        "capacity 2 (median of 3 runs: none, 2, 2; 2 of 3 runs at it; range 2\N{EN DASH}2; 1 found none)"
    )
    assert RepeatedCapacity((None, None)).headline() == "capacity none (2 of 2 runs found none)"
