"""Step verdicts: each criterion passes, fails, or has no data (and then does not fail the step)."""

from dataclasses import replace

import pytest

from loadgen.core.kpi import LatencyStats
from loadgen.core.records import Verdict
from loadgen.core.verdict import Thresholds, judge
from loadgen.core.window import Window


def _window(**overrides):
    base = Window(started_at=0.0, active=4).snapshot(30.0)
    defaults = {
        "transcript_lag": LatencyStats(100, 0.3, 0.3, 0.4, 0.45, 0.5),
        "send_slip": LatencyStats(500, 0.001, 0.001, 0.002, 0.004, 0.01),
        "sessions": {"ok": 20, "recovered": 0, "refused": 0, "error": 0, "dropped": 0, "stopped": 3},
        "connect_attempts": 20,
        "connects_ready": 20,
        "wer": 0.05,
    }
    return replace(base, **{**defaults, **overrides})


def _by_name(verdict):
    return {c.name: c for c in verdict.criteria}


def test_a_healthy_window_passes_every_criterion():
    verdict = judge(_window(), Thresholds(), baseline_wer=0.04)
    assert verdict.passed and not verdict.failing
    assert all(c.passed for c in verdict.criteria)


def test_p95_lag_above_the_slo_fails_and_is_named():
    lag = LatencyStats(100, 0.5, 0.5, 0.62, 0.8, 0.9)
    verdict = judge(_window(transcript_lag=lag), Thresholds(slo_p95_lag_s=0.5), 0.05)
    assert not verdict.passed
    assert [c.name for c in verdict.failing] == ["p95_transcript_lag"]
    assert verdict.failing[0].detail == "p95 transcript lag 0.62 s > 0.50 s"


def test_connection_success_below_99_percent_fails():
    verdict = judge(_window(connect_attempts=100, connects_ready=98), Thresholds(), 0.05)
    assert [c.name for c in verdict.failing] == ["connection_success"]
    assert _by_name(verdict)["connection_success"].value == pytest.approx(0.98)


def test_error_ratio_counts_errors_and_drops_but_not_stopped_sessions():
    sessions = {"ok": 98, "recovered": 1, "refused": 0, "error": 1, "dropped": 1, "stopped": 50}
    verdict = judge(_window(sessions=sessions), Thresholds(max_error_ratio=0.01), 0.05)
    error = _by_name(verdict)["error_ratio"]
    assert error.value == pytest.approx(2 / 101) and error.passed is False


def test_any_refusal_fails_by_default():
    sessions = {"ok": 20, "recovered": 0, "refused": 1, "error": 0, "dropped": 0, "stopped": 0}
    verdict = judge(_window(sessions=sessions), Thresholds(), 0.05)
    assert "refusals" in [c.name for c in verdict.failing]
    assert judge(_window(sessions=sessions), Thresholds(max_refusals=1), 0.05).passed


def test_wer_is_judged_against_the_baseline_plus_tolerance():
    t = Thresholds(wer_tolerance=0.02)
    assert judge(_window(wer=0.069), t, baseline_wer=0.05).passed
    failed = judge(_window(wer=0.08), t, baseline_wer=0.05)
    assert [c.name for c in failed.failing] == ["wer"]
    assert _by_name(failed)["wer"].limit == pytest.approx(0.07)


def test_wer_without_sessions_or_without_baseline_has_no_data_and_does_not_fail():
    for verdict in (
        judge(_window(wer=None), Thresholds(), 0.05),
        judge(_window(wer=0.9), Thresholds(), None),
    ):
        wer = _by_name(verdict)["wer"]
        assert wer.passed is None and verdict.passed


def test_a_saturated_generator_fails_the_step_and_says_so():
    slip = LatencyStats(500, 0.02, 0.01, 0.05, 0.08, 0.2)
    verdict = judge(_window(send_slip=slip), Thresholds(), 0.05)
    assert [c.name for c in verdict.failing] == ["send_slip_p99"]
    assert verdict.failing[0].detail.startswith("generator saturated")


def test_an_empty_window_has_no_data_and_streams_without_transcripts_fail():
    empty = Window(started_at=0.0).snapshot(30.0)
    verdict = judge(empty, Thresholds(), None)
    assert verdict.passed and all(c.passed is None for c in verdict.criteria if c.name != "refusals")
    silent = Window(started_at=0.0, active=3).snapshot(30.0)
    assert [c.name for c in judge(silent, Thresholds(), None).failing] == ["transcripts"]


def test_verdict_json_matches_the_run_dir_contract_and_reads_back():
    verdict = judge(_window(wer=0.08), Thresholds(), 0.05)
    data = verdict.to_json_dict()
    assert set(data) == {"passed", "criteria"} and data["passed"] is False
    assert set(data["criteria"][0]) == {"name", "value", "limit", "passed", "detail"}
    assert Verdict.from_json(data) == verdict
    assert verdict.headline == "FAIL: wer"
    assert judge(_window(), Thresholds(), 0.05).headline == "PASS"
