"""Untranscribed speech: coverage of received segments, and the split of what is left by cause."""

from __future__ import annotations

import numpy as np
import pytest

from loadgen.core.session_result import SessionResult
from loadgen.core.stream_audio import build_plan, silence
from loadgen.core.untranscribed import (
    MIN_SKIP_S,
    Coverage,
    Drop,
    Untranscribed,
    intersect,
    merge,
    subtract,
    untranscribed,
)


def covered(*spans: tuple[float, float]) -> list[tuple[float, float]]:
    c = Coverage()
    for start, end in spans:
        c.add(start, end)
    return c.spans


def test_coverage_merges_overlapping_touching_and_resent_segments_and_keeps_holes():
    assert covered((0, 1), (0, 1), (0.5, 2), (2, 3), (5, 6), (4, 4.5), (0, 0)) == [(0, 3), (4, 4.5), (5, 6)]
    assert covered((5, 6), (1, 2), (1.5, 5.5)) == [(1, 6)]
    assert covered((3, 4), (1, 2), (2.5, 2.6)) == [(1, 2), (2.5, 2.6), (3, 4)]
    assert covered() == []


def test_span_arithmetic():
    assert merge([(3, 4), (0, 1), (0.5, 2), (5, 5)]) == [(0, 2), (3, 4)]
    assert subtract([(0, 10)], [(1, 2), (3, 4), (9, 12)]) == [(0, 1), (2, 3), (4, 9)]
    assert subtract([(0, 1), (2, 3)], []) == [(0, 1), (2, 3)]
    assert subtract([(0, 1), (2, 3)], [(-1, 5)]) == []
    assert intersect([(0, 2), (3, 6)], [(1, 4), (5, 7)]) == [(1, 2), (3, 4), (5, 6)]


def test_fully_transcribed_speech_leaves_nothing():
    assert untranscribed([(0, 5), (6, 10)], [(0, 10)], [], 10).total_s == 0.0


def test_silence_between_utterances_is_never_counted():
    # nothing covered the 5-6 s silence, nor the 10-12 s after the speech
    assert untranscribed([(0, 5), (6, 10)], [(0, 5), (6, 10)], [], 12) == Untranscribed(0, 0, 0)


def test_a_drop_splits_into_in_flight_gap_and_skipped():
    speech = [(0.0, 10.0)]
    drop = Drop(frontier_s=0.5, sent_until_s=1.5, resume_s=1.75)
    # the new connection transcribed 1.75-4, then the server passed over 4-6, then 6-10 again
    u = untranscribed(speech, [(0, 0.5), (1.75, 4), (6, 10)], [drop], 10)
    assert u == Untranscribed(in_flight_s=1.0, gap_s=0.25, skipped_s=2.0)
    assert u.total_s == 3.25


def test_only_speech_counts_in_each_cause():
    speech = [(0.0, 1.0), (2.0, 3.0)]  # 1-2 is silence
    drop = Drop(frontier_s=0.5, sent_until_s=2.5, resume_s=2.75)
    u = untranscribed(speech, [(0, 0.5), (2.75, 3.0)], [drop], 3.0)
    assert u == Untranscribed(in_flight_s=1.0, gap_s=0.25, skipped_s=0.0)


def test_a_drop_without_a_resume_is_in_flight_up_to_the_horizon():
    u = untranscribed([(0, 10)], [(0, 2)], [Drop(2.0, 3.0)], horizon_s=3.0)
    assert u == Untranscribed(1.0, 0.0, 0.0)


def test_a_gap_is_charged_before_an_in_flight_span_of_a_later_drop():
    # no transcript on the second connection: its drop's in-flight span reaches back over the first gap
    drops = [Drop(0.5, 1.5, 2.0), Drop(0.5, 3.0, 3.5)]
    u = untranscribed([(0, 5)], [(0, 0.5), (3.5, 5)], drops, 5)
    assert u == Untranscribed(in_flight_s=2.0, gap_s=1.0, skipped_s=0.0)


def test_skipped_holes_shorter_than_the_minimum_are_timestamp_slack():
    speech = [(0, 5), (6, 11)]
    short = MIN_SKIP_S - 0.01
    u = untranscribed(speech, [(0, 5 - short), (6, 6 + 2), (6 + 2 + MIN_SKIP_S, 11)], [], 11)
    assert u == Untranscribed(0.0, 0.0, pytest.approx(MIN_SKIP_S))


def test_speech_beyond_the_horizon_is_not_counted():
    assert untranscribed([(0, 10)], [(0, 2)], [], 4) == Untranscribed(0, 0, 2)


def test_the_plan_knows_where_its_speech_is():
    a = np.ones(16000, dtype=np.float32)
    plan = build_plan([a, a[:8000]], gap=silence(0.5))
    assert plan.speech_spans() == [(0.0, 1.0), (1.5, 2.0)]
    assert build_plan([a]).speech_spans() == [(0.0, 1.0)]


def test_sums_rounding_and_the_session_line_round_trip():
    parts = [Untranscribed(1.0, 0.5, 0.0), None, Untranscribed(0.25, 0.0, 2.0)]
    assert Untranscribed.sum(parts) == Untranscribed(1.25, 0.5, 2.0)
    assert Untranscribed(1 / 3, 0, 0).rounded() == Untranscribed(0.333, 0, 0)
    r = SessionResult(0, 0, "u", [], 0.0, audio_untranscribed_s=1.5, untranscribed=Untranscribed(1, 0.5, 0))
    data = r.to_json_dict()
    assert data["untranscribed"] == {"in_flight_s": 1, "gap_s": 0.5, "skipped_s": 0}
    assert SessionResult.from_json_dict(data) == r
    del data["untranscribed"], data["audio_untranscribed_s"]  # a line written before these fields
    old = SessionResult.from_json_dict(data)
    assert (old.untranscribed, old.audio_untranscribed_s) == (None, None)
    assert Untranscribed.from_json({"in_flight_s": "x", "gap_s": 0, "skipped_s": 0}) is None
