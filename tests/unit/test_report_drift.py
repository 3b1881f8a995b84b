"""Soak drift: steady growth is flagged, flat or noisy series are not."""

from __future__ import annotations

import numpy as np
import pytest

from loadgen.report.model.drift import MEMORY_RULE, MIN_WINDOWS, SoakWindow, detect_drift, fit_trend

TIMES = [300.0 * i for i in range(12)]  # an hour in 5-minute windows


def windows(lag=None, memory=None, clients=None, wer=None) -> list[SoakWindow]:
    n = len(TIMES)
    return [
        SoakWindow(
            t_s=t,
            clients=(clients or [8] * n)[i],
            lag_p95=(lag or [0.6] * n)[i],
            wer=(wer or [0.05] * n)[i],
            error_ratio=0.0,
            memory_mib={name: series[i] for name, series in (memory or {}).items()},
        )
        for i, t in enumerate(TIMES)
    ]


def flagged(report) -> set[str]:
    return {t.series for t in report.drifting}


def test_a_replica_whose_memory_grows_steadily_is_flagged_and_a_flat_one_is_not():
    growing = [(500 + 10 * i) for i in range(12)]  # +22 % over the hour
    flat = [600 + (i % 2) for i in range(12)]
    report = detect_drift(windows(memory={"whisperlive-1": growing, "whisperlive-2": flat}))
    assert flagged(report) == {"memory whisperlive-1"}
    [trend] = [t for t in report.trends if t.series == "memory whisperlive-1"]
    assert trend.growth == pytest.approx(110 / 500, rel=0.01)
    assert trend.slope_per_h == pytest.approx(10 * 12, rel=0.01)
    assert trend.r2 > 0.99


def test_growth_below_the_limit_or_noise_is_not_drift():
    rng = np.random.default_rng(1)
    small = [(800 + 0.5 * i) for i in range(12)]  # +0.7 %: steady but small
    noisy = list(600 + rng.normal(0, 60, 12))  # big swings, no trend
    report = detect_drift(windows(memory={"a": small, "b": noisy}))
    assert flagged(report) == set()


def test_lag_creeping_up_at_constant_load_is_flagged():
    creeping = [0.5 + 0.03 * i for i in range(12)]  # +66 %
    assert "transcript lag p95" in flagged(detect_drift(windows(lag=creeping)))
    assert "transcript lag p95" not in flagged(detect_drift(windows()))


def test_lag_is_not_judged_when_the_load_changed():
    creeping = [0.5 + 0.03 * i for i in range(12)]
    report = detect_drift(windows(lag=creeping, clients=[8] * 6 + [10] * 6))
    assert not report.constant_load and "transcript lag p95" not in flagged(report)
    assert report.note and "client count changed" in report.note


def test_wer_drift_is_judged_in_absolute_points():
    assert "WER" in flagged(detect_drift(windows(wer=[0.05 + 0.004 * i for i in range(12)])))  # +4.4 points
    assert "WER" not in flagged(detect_drift(windows(wer=[0.05 + 0.001 * i for i in range(12)])))  # +1.1


def test_too_few_windows_gives_a_note_not_a_verdict():
    report = detect_drift(windows()[: MIN_WINDOWS - 1])
    assert report.trends == [] and report.note and str(MIN_WINDOWS) in report.note


def test_decreasing_series_never_drift():
    shrinking = [(900 - 20 * i) for i in range(12)]
    trend = fit_trend("m", TIMES, shrinking, MEMORY_RULE)
    assert trend is not None and not trend.drifting and trend.slope_per_h < 0
