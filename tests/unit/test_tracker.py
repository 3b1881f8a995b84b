import pytest

from loadgen.core.clock import LiveClock
from loadgen.core.protocol import Segment
from loadgen.core.tracker import TranscriptTracker


def seg(start, end, text, completed):
    return Segment(start, end, text, completed)


@pytest.fixture
def tracker():
    return TranscriptTracker(LiveClock(t0=100.0))


def test_frontier_lag_is_sampled_only_when_the_frontier_moves(tracker):
    assert tracker.observe(101.5, [seg(0.0, 1.0, " Hello", False)])
    assert tracker.transcript_lags == [pytest.approx(0.5)]
    # same frontier, same text: no sample, no change
    assert not tracker.observe(101.8, [seg(0.0, 1.0, " Hello", False)])
    assert tracker.transcript_lags == [pytest.approx(0.5)]
    tracker.observe(103.2, [seg(0.0, 2.5, " Hello there", False)])
    assert tracker.transcript_lags == [pytest.approx(0.5), pytest.approx(0.7)]
    assert tracker.frontier_s == 2.5


def test_finalization_lag_once_per_newly_completed_segment(tracker):
    tracker.observe(103.0, [seg(0.0, 2.0, " One.", True), seg(2.0, 2.5, " Two", False)])
    # WhisperLive re-sends the last N segments: the completed one again, with revised text
    tracker.observe(104.0, [seg(0.0, 2.0, " One!", True), seg(2.0, 3.5, " Two.", True)])
    assert tracker.finalization_lags == [pytest.approx(1.0), pytest.approx(0.5)]
    assert [s.text for s in tracker.completed_segments] == [" One!", " Two."]
    assert tracker.hypothesis() == "One! Two."
    assert tracker.unfinalized_segments == 0


def test_trailing_partial_is_kept_only_after_the_last_completed_end(tracker):
    tracker.observe(103.0, [seg(0.0, 2.0, " One.", True), seg(2.0, 2.8, " Tw", False)])
    assert tracker.hypothesis() == "One. Tw"
    assert tracker.unfinalized_segments == 1
    # a partial overlapping finalized audio is a stale revision: not appended
    tracker.observe(
        103.5, [seg(0.0, 2.0, " One.", True), seg(2.0, 3.0, " Two.", True), seg(1.5, 3.1, " x", False)]
    )
    assert tracker.hypothesis() == "One. Two."


def test_first_text_and_last_change_times(tracker):
    tracker.observe(100.5, [seg(0.0, 0.2, "  ", False)])
    assert tracker.first_text_at is None
    tracker.observe(101.0, [seg(0.0, 0.6, " Hi", False)])
    tracker.observe(101.4, [seg(0.0, 0.6, " Hi", False)])
    assert tracker.first_text_at == 101.0
    assert tracker.last_change_at == 101.0
    assert tracker.segments_received == 3


def test_an_instant_server_gives_zero_lag_never_negative(tracker):
    for k in range(1, 5):
        now = 100.0 + k * 0.25
        tracker.observe(now, [seg(0.0, k * 0.25, " a" * k, False)])
    assert tracker.transcript_lags == [pytest.approx(0.0)] * 4


def test_a_reconnect_shifts_the_new_connection_and_keeps_the_transcript(tracker):
    tracker.observe(101.5, [seg(0.0, 1.0, " One.", True), seg(1.0, 1.4, " Tw", False)])
    # the connection drops; the next one starts streaming the plan at 3.0 s (stream time 0 there)
    tracker.new_connection(3.0)
    tracker.observe(104.6, [seg(0.0, 1.0, " Three", False)])
    assert tracker.frontier_s == pytest.approx(4.0)
    assert tracker.transcript_lags[-1] == pytest.approx(0.6)  # against the original clock (t0 = 100)
    tracker.observe(105.5, [seg(0.0, 1.5, " Three.", True)])
    assert tracker.finalization_lags[-1] == pytest.approx(1.0)
    # the partial of the dropped connection stays as its last word; it was never finalized
    assert tracker.hypothesis() == "One. Tw Three."
    assert tracker.unfinalized_segments == 1


def test_coverage_keeps_every_segment_with_text_ever_received_on_the_plan_timeline(tracker):
    tracker.observe(101.0, [seg(0.0, 1.0, " One", False)])
    tracker.observe(102.0, [seg(0.0, 1.5, " One two", True), seg(1.5, 2.0, "  ", False)])  # no words
    tracker.new_connection(3.0)  # a reconnect: this connection's time 0 is at 3.0 s of the plan
    tracker.observe(104.0, [seg(0.0, 0.5, " Three", False)])
    assert tracker.coverage.spans == [(0.0, 1.5), (3.0, 3.5)]
