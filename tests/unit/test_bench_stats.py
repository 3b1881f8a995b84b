import numpy as np
import pytest

from bench.stats import bytes_per_stream, first_speech_end, quantile_ms, session_slips, steady_slips
from loadgen.core.session_result import SessionResult


def test_only_sends_due_after_every_client_streamed_count():
    t0s = np.array([10.0, 12.0])
    rows = np.array([[11.0, 0.5, 0.0], [12.9, 0.4, 0.0], [13.0, 0.001, 0.0], [14.0, 0.002, 0.003]])
    assert list(steady_slips(t0s, rows)) == [0.001, 0.002]
    assert list(steady_slips(t0s, rows, column=2)) == [0.0, 0.003]
    assert len(steady_slips(np.array([]), rows)) == 0
    assert list(steady_slips(t0s, rows, until=13.5)) == [0.001]  # the first client stopped at 13.5


def test_the_first_speech_end_bounds_the_concurrent_window():
    early = SessionResult(client=0, seq=0, uid="u", utterances=["a"], started_at=100.0)
    early.connect_s, early.server_ready_s, early.audio_sent_s = 0.5, 0.5, 20.0
    late = SessionResult(client=1, seq=0, uid="v", utterances=["a"], started_at=108.0)
    late.connect_s, late.server_ready_s, late.audio_sent_s = 0.5, 0.5, 20.0
    refused = SessionResult(client=2, seq=0, uid="w", utterances=["a"], started_at=90.0)
    assert first_speech_end([late, early, refused]) == 121.0
    assert first_speech_end([refused]) == float("inf")


def test_session_slips_put_each_send_at_its_due_time():
    r = SessionResult(client=0, seq=0, uid="u", utterances=["a"], started_at=100.0)
    r.connect_s, r.server_ready_s, r.send_slips_s = 0.5, 0.5, [0.001, 0.002]
    refused = SessionResult(client=1, seq=0, uid="v", utterances=["a"], started_at=100.0)
    t0s, rows = session_slips([r, refused], chunk_s=0.25)
    assert list(t0s) == [101.0]
    assert rows.tolist() == [[101.25, 0.001], [101.5, 0.002]]


def test_memory_per_stream_is_the_slope_of_rss_against_streams():
    assert bytes_per_stream([(1000, 200_000_000), (2000, 236_000_000)]) == pytest.approx(36_000)
    assert bytes_per_stream([(1000, 200_000_000)]) is None


def test_quantiles_in_milliseconds():
    assert quantile_ms(np.array([0.001, 0.003]), 50) == pytest.approx(2.0)
    assert quantile_ms(np.array([]), 99) is None


def test_naive_schedule_measures_slip_and_wake_lateness_and_cycles_the_audio() -> None:
    from bench.audio import NaiveSchedule

    audio = bytes(range(256)) * 100  # 25,600 bytes; a 0.1 s chunk is 6,400 bytes
    slips: list[tuple[float, float, float]] = []
    schedule = NaiveSchedule(audio, 0.1, t0=10.0, slips=slips)
    chunks = [schedule.next_chunk(now) for now in (10.0, 10.12, 10.25, 10.37)]
    assert [len(c) for c in chunks] == [6400] * 4
    assert chunks[3] == audio[0:6400]  # offset wraps at len(audio) - step
    due, slip, late = zip(*slips, strict=True)
    assert due == pytest.approx((10.0, 10.1, 10.2, 10.3))
    assert slip == pytest.approx((0.0, 0.02, 0.05, 0.07))  # the sleep-after-send drift accumulates
    assert late == pytest.approx((0.0, 0.02, 0.03, 0.02))
