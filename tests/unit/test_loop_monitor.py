import math

import pytest

from loadgen.telemetry.loop_monitor import LoopMonitor, SlipWindow, cumulative_buckets, histogram_quantile
from loadgen.telemetry.metrics import SLIP_BUCKETS, LoadgenMetrics

BOUNDS = (0.01, 0.05, 0.1, math.inf)


def test_quantile_interpolates_inside_the_bucket_like_prometheus():
    # 100 observations: 50 in (0, 0.01], 40 in (0.01, 0.05], 10 in (0.05, 0.1]
    counts = (50, 90, 100, 100)
    assert histogram_quantile(0.5, BOUNDS, counts) == pytest.approx(0.01)
    assert histogram_quantile(0.25, BOUNDS, counts) == pytest.approx(0.005)
    assert histogram_quantile(0.99, BOUNDS, counts) == pytest.approx(0.05 + 0.05 * 9 / 10)


def test_quantile_in_the_inf_bucket_answers_the_highest_finite_bound_and_none_without_data():
    assert histogram_quantile(0.99, BOUNDS, (0, 0, 0, 5)) == 0.1
    assert histogram_quantile(0.99, BOUNDS, (0, 0, 0, 0)) is None


def test_the_window_counts_only_recent_observations():
    window = SlipWindow(BOUNDS, window_s=10)
    window.add(0, (0, 0, 0, 0))
    window.add(1, (0, 0, 0, 100))  # a burst of very late sends
    assert window.quantile(0.99) == 0.1
    for t in range(2, 14):
        window.add(t, (1000 * (t - 1), 1000 * (t - 1), 1000 * (t - 1), 1000 * (t - 1) + 100))
    # the burst is more than a window old: only on-time sends remain
    assert window.quantile(0.99) == pytest.approx(0.01 * 0.99)


def test_a_single_snapshot_is_its_own_window():
    window = SlipWindow(BOUNDS)
    window.add(5, (10, 10, 10, 10))
    assert window.quantile(0.5) == pytest.approx(0.005)


def test_saturation_follows_the_slip_p99_against_the_threshold():
    metrics = LoadgenMetrics()
    monitor = LoopMonitor(metrics, threshold_s=0.05)
    for _ in range(99):
        metrics.send_slip.observe(0.001)
    monitor.check_saturation(0.0)
    assert metrics.registry.get_sample_value("loadgen_generator_saturated") == 0
    for _ in range(50):
        metrics.send_slip.observe(0.3)
    monitor.check_saturation(1.0)
    assert metrics.registry.get_sample_value("loadgen_generator_saturated") == 1
    assert monitor.record.worst_slip_p99_s > 0.25 and monitor.record.saturated_s == 1.0


def test_cumulative_buckets_reads_the_slip_histogram():
    metrics = LoadgenMetrics()
    metrics.send_slip.observe(0.003)
    bounds, counts = cumulative_buckets(metrics.send_slip)
    assert bounds == (*SLIP_BUCKETS, math.inf)
    assert counts[bounds.index(0.002)] == 0 and counts[bounds.index(0.005)] == 1 and counts[-1] == 1
