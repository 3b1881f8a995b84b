"""Reconnection arithmetic: backoff delays and where a resumed stream picks up."""

import random

import numpy as np
import pytest

from loadgen.core.reconnect import ReconnectPolicy, Resume, resume_chunks
from loadgen.core.stream_audio import build_plan, chunks

CHUNK = 4000  # 0.25 s at 16 kHz


def test_first_retry_is_immediate_then_exponential_capped_and_jittered_down():
    policy = ReconnectPolicy(base_s=0.25, factor=2.0, cap_s=1.0, jitter=0.5)
    rng = random.Random(1)
    assert policy.delay(0, rng) == 0.0
    for attempt, bound in ((1, 0.25), (2, 0.5), (3, 1.0), (4, 1.0), (9, 1.0)):
        delays = [policy.delay(attempt, rng) for _ in range(200)]
        assert all(bound * 0.5 <= d <= bound for d in delays)
        assert max(delays) - min(delays) > bound * 0.3  # jitter spreads reconnect storms


def test_without_jitter_the_delays_are_the_bounds():
    policy = ReconnectPolicy(base_s=0.1, factor=3.0, cap_s=5.0, jitter=0.0)
    assert [policy.delay(a, random.Random()) for a in range(5)] == pytest.approx([0, 0.1, 0.3, 0.9, 2.7])


def plan_chunks(seconds: float = 3.0):
    return chunks(build_plan([np.ones(int(seconds * 16000), dtype=np.float32)]), CHUNK)


def test_resume_skips_the_chunks_that_ended_in_the_gap():
    feed = plan_chunks()
    for _ in range(4):  # sent up to 1.0 s, then the connection dropped
        next(feed)
    resume, rest = resume_chunks(feed, sent_until_s=1.0, live_position_s=1.6)
    # the chunk [1.5, 1.75) is being spoken now: it is sent; [1.0, 1.5) fell in the gap
    assert resume == Resume(offset_s=1.5, lost_s=0.5)
    assert [c.end_s for c in rest] == [1.75, 2.0, 2.25, 2.5, 2.75, 3.0]


def test_an_immediate_reconnect_loses_nothing():
    feed = plan_chunks()
    next(feed)
    resume, rest = resume_chunks(feed, sent_until_s=0.25, live_position_s=0.3)
    assert resume == Resume(0.25, 0.0)
    assert next(rest).end_s == 0.5


def test_a_gap_past_the_end_of_the_speech_loses_the_rest_and_resumes_in_the_tail():
    feed = plan_chunks(1.0)
    next(feed)
    resume, rest = resume_chunks(feed, sent_until_s=0.25, live_position_s=4.2)
    assert resume == Resume(offset_s=4.2, lost_s=0.75)
    assert list(rest) == []
