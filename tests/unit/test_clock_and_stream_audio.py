import numpy as np
import pytest

from loadgen.core.clock import LiveClock
from loadgen.core.protocol import SAMPLE_RATE
from loadgen.core.stream_audio import build_plan, chunks, silence


def test_chunk_k_is_due_when_its_last_sample_exists():
    clock = LiveClock(t0=100.0)
    chunk_s = 0.25
    assert [clock.due((k + 1) * chunk_s) for k in range(3)] == [100.25, 100.5, 100.75]


def test_lag_and_slip_are_measured_from_the_scheduled_clock():
    clock = LiveClock(t0=10.0)
    assert clock.lag(received_at=13.0, position_s=2.5) == pytest.approx(0.5)
    assert clock.lag(received_at=12.5, position_s=2.5) == pytest.approx(0.0)
    assert clock.slip(sent_at=10.26, end_s=0.25) == pytest.approx(0.01)


def _audio(n):
    a = np.arange(n, dtype=np.float32)
    a.flags.writeable = False
    return a


def test_chunks_are_zero_copy_views_with_end_positions():
    audio = _audio(SAMPLE_RATE)  # 1 s
    plan = build_plan([audio])
    out = list(chunks(plan, chunk_samples=4000))
    assert [c.end_s for c in out] == [0.25, 0.5, 0.75, 1.0]
    first = np.frombuffer(out[0].data, dtype=np.float32)
    assert np.shares_memory(first, audio)
    assert first[0] == 0 and first[-1] == 3999


def test_a_short_last_chunk_is_never_merged_and_gaps_sit_between_files():
    a = _audio(6000)
    plan = build_plan([a, a], gap=silence(0.125))  # 2000 samples of silence
    ends = [round(c.end_s * SAMPLE_RATE) for c in chunks(plan, 4000)]
    assert ends == [4000, 6000, 8000, 12000, 14000]
    assert plan.n_samples == 14000
    assert plan.duration_s == pytest.approx(14000 / SAMPLE_RATE)


def test_silence_is_shared_and_read_only():
    quiet = silence(0.5)
    assert len(quiet) == 8000 and not quiet.any()
    with pytest.raises(ValueError):
        quiet[0] = 1.0
