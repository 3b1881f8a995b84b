"""Open-model arrivals, session lengths, Little's law and traces: the pure parts."""

from __future__ import annotations

import itertools
import math
import random
import statistics

import pytest

from loadgen.cli.progress import load_text
from loadgen.core.arrivals import (
    CONSTANT,
    POISSON,
    Arrival,
    SessionLength,
    arrival_times,
    gap_stats,
    mean_concurrency,
    open_arrivals,
    open_figures,
    parse_session_length,
    rate_capacity,
    settled_window,
)
from loadgen.core.errors import UsageError
from loadgen.core.records import StepRecord, WindowSnapshot
from loadgen.core.schedule import continuous_selection
from loadgen.core.session_result import SessionResult
from loadgen.core.shards import merge_windows
from loadgen.core.stream_audio import build_plan, padded, silence
from loadgen.core.trace import arrival_from_row, arrival_row, scaled, trace_of_sessions
from loadgen.core.verdict import Thresholds, judge
from loadgen.core.window import Window
from loadgen.report.model.compare import figures
from loadgen.report.model.report import RunInputs, build_report
from loadgen.report.model.steps import step_row
from loadgen.report.model.tables import steps_table, verdict_table
from tests.run_dirs import manifest, records, step


@pytest.mark.parametrize(
    ("text", "kind", "mean"),
    [
        ("300", "fixed", 300.0),
        ("fixed:45", "fixed", 45.0),
        ("uniform:30,90", "uniform", 60.0),
        ("lognormal:60,20", "lognormal", 60.0),
    ],
)
def test_session_lengths_parse_and_print_back(text, kind, mean):
    length = parse_session_length(text)
    assert (length.kind, length.mean_s) == (kind, mean)
    assert parse_session_length(str(length)) == length


@pytest.mark.parametrize(
    "text", ["", "fixed:", "fixed:-1", "uniform:9,3", "uniform:3", "gamma:2,1", "x", "nan"]
)
def test_a_bad_session_length_is_one_value_error_naming_the_forms(text):
    with pytest.raises(ValueError, match="session length"):
        parse_session_length(text)


def test_sampled_lengths_have_the_asked_mean_and_spread():
    rng = random.Random(1)
    lognormal = [SessionLength("lognormal", 60.0, 20.0).sample(rng) for _ in range(20_000)]
    assert statistics.fmean(lognormal) == pytest.approx(60.0, rel=0.02)
    assert statistics.stdev(lognormal) == pytest.approx(20.0, rel=0.05)
    uniform = [SessionLength("uniform", 30.0, 90.0).sample(rng) for _ in range(20_000)]
    assert min(uniform) >= 30.0 and max(uniform) <= 90.0
    assert statistics.fmean(uniform) == pytest.approx(60.0, rel=0.01)


def test_poisson_arrivals_have_the_rate_and_exponential_gaps():
    # 100,000 arrivals: the rate's relative sd is 1/sqrt(n) = 0.3 %, the gap CV's about as small
    times = list(itertools.islice(arrival_times(POISSON, 4.0, random.Random(7)), 100_000))
    stats = gap_stats(times, times[-1])
    assert stats.rate == pytest.approx(4.0, rel=0.01)
    assert stats.gap_cv == pytest.approx(1.0, abs=0.02)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # exponential: P(gap > mean) = 1/e
    assert sum(g > 0.25 for g in gaps) / len(gaps) == pytest.approx(math.exp(-1), abs=0.01)


def test_constant_arrivals_are_evenly_spaced_and_seeded_ones_reproducible():
    assert [a.start_s for a in open_arrivals(CONSTANT, 2.0, 2.0, SessionLength("fixed", 5.0), 0)] == [
        0.0,
        0.5,
        1.0,
        1.5,
    ]
    one = open_arrivals(POISSON, 1.0, 60.0, SessionLength("lognormal", 30.0, 10.0), seed=3)
    assert one == open_arrivals(POISSON, 1.0, 60.0, SessionLength("lognormal", 30.0, 10.0), seed=3)
    assert one != open_arrivals(POISSON, 1.0, 60.0, SessionLength("lognormal", 30.0, 10.0), seed=4)
    assert all(a.start_s < 60.0 for a in one)
    with pytest.raises(ValueError, match="rate"):
        next(arrival_times(POISSON, 0.0, random.Random(0)))


def test_littles_law_holds_for_a_simulated_open_queue():
    # sessions that last exactly their length: the mean concurrency after the fill-up is rate x length
    arrivals = open_arrivals(POISSON, 5.0, 2000.0, SessionLength("uniform", 5.0, 15.0), seed=11)
    intervals = [(a.start_s, a.start_s + a.length_s) for a in arrivals]
    start, end = settled_window(2000.0, 10.0)
    assert (start, end) == (10.0, 2000.0)
    assert mean_concurrency(intervals, start, end) == pytest.approx(5.0 * 10.0, rel=0.03)


def test_mean_concurrency_clips_intervals_to_the_window():
    assert mean_concurrency([(0.0, 10.0), (5.0, 6.0), (20.0, 30.0)], 4.0, 8.0) == pytest.approx(1.25)
    with pytest.raises(ValueError):
        mean_concurrency([], 1.0, 1.0)


def test_open_figures_put_offered_beside_achieved():
    figures = open_figures(
        rate=1.0,
        mean_length_s=2.0,
        span_s=10.0,
        scheduled=11,
        late_s=[0.001, 0.002, 0.004],
        dropped=1,
        intervals=[(float(t), float(t) + 2.0) for t in range(10)],
    )
    assert figures.offered_concurrency == 2.0
    assert figures.achieved_concurrency == pytest.approx(2.0)
    assert figures.window_s == (2.0, 10.0)
    assert (figures.launched, figures.dropped, figures.measured_rate) == (3, 1, 1.0)
    assert figures.gap_cv == 0.0
    assert (figures.start_late_p50_s, figures.start_late_max_s) == (0.002, 0.004)


def test_a_session_is_the_whole_files_that_fit_then_silence_up_to_its_length():
    durations = [4.0, 3.0, 5.0]
    assert continuous_selection(0, durations, 8.5, 1.0, within=True) == [0, 1]  # 4 + 1 + 3 = 8
    assert continuous_selection(2, durations, 3.0, 1.0, within=True) == [2]  # at least one
    assert continuous_selection(0, durations, 8.5, 1.0) == [0, 1, 2]  # the closed mode fills past it
    plan = padded(build_plan([silence(4.0), silence(3.0)], silence(1.0)), 8.5)
    assert plan.duration_s == pytest.approx(8.5)
    assert padded(plan, 2.0) is plan


def test_trace_rows_parse_scale_and_write_back():
    row = {"start_s": "12.5", "length_s": "30", "profile": "talker", "file": ""}
    arrival = arrival_from_row(row, "t.csv:2")
    assert arrival == Arrival(12.5, 30.0, "talker", None)
    assert arrival_from_row(arrival_row(arrival), "x") == arrival
    assert scaled([Arrival(20.0, 5.0), Arrival(10.0, 5.0)], 10.0) == [Arrival(1.0, 5.0), Arrival(2.0, 5.0)]
    for bad, message in (
        ({"start_s": "x", "length_s": "1"}, "start_s 'x'"),
        ({"start_s": 1}, "length_s None"),
        ({"start_s": -1, "length_s": 1}, "must be >= 0"),
    ):
        with pytest.raises(ValueError, match=message):
            arrival_from_row(bad, "t.jsonl:3")


def test_a_trace_of_a_run_starts_at_its_first_session():
    def session(started, audio, ended, utterances):
        r = SessionResult(0, 0, "u", utterances, started, ended_at=ended)
        r.audio_sent_s = audio
        return r

    idle = session(99.0, 120.0, 220.0, [])
    idle.idle = True  # an idle client held a connection; it did not speak, so it is no session to replay
    trace = trace_of_sessions(
        [session(105.0, 0.0, 105.5, ["a"]), session(100.0, 30.0, 131.0, ["a", "b"]), idle]
    )
    assert trace == [Arrival(0.0, 30.0), Arrival(5.0, 0.5, None, "a")]


def test_the_step_table_shows_rate_streams_and_handshakes_only_where_recorded():
    window = Window(started_at=0.0, active=3)
    window.connected(1.0, "r1", 0.120)
    window.connect_failed(2.0, refused=True)
    snap = window.snapshot(10.0)
    rate_step = StepRecord(0, 2, "grow", 0.0, 0.0, 10.0, snap, None, rate=0.1)
    table = steps_table([step_row(rate_step)])
    cells = dict(zip(table.headers, table.rows[0], strict=True))
    assert cells["rate (/s)"] == "0.1" and cells["streams"] == "3.00"
    assert cells["handshake p50 / p95 / max (ms)"] == "120 / 120 / 120" and cells["refused handshakes"] == "1"
    old = StepRecord.from_json({"index": 0, "clients": 2, "phase": "grow", "window": {"duration_s": 10}})
    assert not {"rate (/s)", "streams", "refused handshakes"} & set(steps_table([step_row(old)]).headers)
    assert StepRecord.from_json(rate_step.to_json_dict()).rate == 0.1


def test_the_rate_answer_names_rates_and_the_streams_the_capacity_step_produced():
    def rate_of(level):
        return [0.05, 0.1, 0.2][level - 1]

    answer = rate_capacity([(1, True), (2, True), (3, False)], rate_of, {1: 3.1, 2: 6.2})
    assert (answer.rate, answer.concurrency, answer.first_failure_rate) == (0.1, 6.2, 0.2)
    assert answer.reason == "0.1/s passed, 0.2/s failed; the 0.1/s step produced 6.2 concurrent streams"
    assert rate_capacity([(1, False)], rate_of, {}).reason == "even 0.05/s failed: no capacity found"


def _rate_steps(dropped=None):
    """--rates 0.05,0.1,0.2 at levels 1..3: 0.1/s passes producing 6.2 streams, 0.2/s fails."""
    lines = [step(i, level, lag, 10.0) for i, (level, lag) in enumerate([(1, 0.2), (2, 0.3), (3, 1.2)])]
    for line, rate, streams in zip(lines, [0.05, 0.1, 0.2], [3.1, 6.2, 11.0], strict=True):
        line["rate"] = rate
        line["window"]["active_clients"]["avg"] = streams
        if dropped is not None:
            line["window"]["arrivals_dropped"] = dropped
    return lines


def test_the_report_of_a_rate_ramp_says_the_rate_and_the_streams_never_the_level():
    report = build_report(RunInputs("runs/r", manifest(), records(_rate_steps(0)), [], []))
    assert report.verdict.passed
    assert report.verdict.headline == (
        "max arrival rate: 0.1/s (0.1/s passed, 0.2/s failed; the 0.1/s step produced 6.2 concurrent "
        "streams; at 0.2/s: p95 transcript lag 1.20 s > 0.50 s)"
    )
    assert figures("r", report).capacity == 6.2  # what compare and plan take: streams, not the level 2
    table = steps_table(report.rows)
    assert dict(zip(table.headers, table.rows[1], strict=True))["dropped arrivals"] == "0"
    answer = dict(verdict_table(report).rows)
    assert answer["first failing step"] == "0.2 sessions/s"  # the level (3) is no client count
    assert answer["max arrival rate"].startswith("0.1 sessions/s")


def test_compare_refuses_a_rate_ramp_whose_capacity_step_has_no_concurrency():
    lines = _rate_steps()
    del lines[1]["window"]["active_clients"]
    report = build_report(RunInputs("runs/r", manifest(), records(lines), [], []))
    with pytest.raises(UsageError, match=r"capacity step \(0.1/s\) recorded no concurrency"):
        figures("r", report)


def test_dropped_arrivals_are_counted_in_the_window_and_fail_the_step():
    window = Window(started_at=10.0, active=2, arrivals_dropped=0)
    window.arrival_dropped(9.0)  # before the window: not counted
    window.arrival_dropped(11.0)
    window.arrival_dropped(12.0)
    snap = window.snapshot(20.0)
    assert snap.arrivals_dropped == 2 and WindowSnapshot.from_json(snap.to_json_dict()).arrivals_dropped == 2
    dropped = judge(snap, Thresholds(), None).criterion("arrivals_dropped")
    assert dropped is not None and dropped.passed is False and dropped.detail == "arrivals dropped 2 > 0"
    step_line = StepRecord(0, 1, "grow", 0.0, 10.0, 20.0, snap, None, rate=0.2)
    assert load_text(step_line) == "0.2/s (2.0 streams, 2 dropped)"
    served = judge(Window(started_at=10.0, arrivals_dropped=0).snapshot(20.0), Thresholds(), None)
    assert served.criterion("arrivals_dropped").passed is True


def test_closed_clients_and_old_records_have_no_dropped_arrivals():
    snap = Window(started_at=0.0, active=2).snapshot(10.0)
    assert "arrivals_dropped" not in snap.to_json_dict()
    assert judge(snap, Thresholds(), None).criterion("arrivals_dropped") is None
    old = StepRecord.from_json({"index": 0, "clients": 2, "phase": "grow", "window": {"duration_s": 10}})
    assert old.window is not None and old.window.arrivals_dropped is None
    assert "dropped arrivals" not in steps_table([step_row(old)]).headers


def test_shards_sum_their_dropped_arrivals():
    parts = [Window(0.0, 1, arrivals_dropped=n).snapshot(10.0) for n in (1, 2)]
    assert merge_windows(parts).arrivals_dropped == 3
    assert merge_windows([Window(0.0, 1).snapshot(10.0)]).arrivals_dropped is None
