import numpy as np
import pytest

from loadgen.core.protocol import (
    MAX_MESSAGE_BYTES,
    Disconnect,
    Malformed,
    Segment,
    ServerError,
    ServerWarning,
    Unknown,
    Wait,
    decode,
)
from loadgen.sim.model import (
    FAULT_MODES,
    Fault,
    LagModel,
    SpokenUtterance,
    encode_segments,
    fault_message,
    is_silence,
    transcript,
)


def test_lag_is_flat_up_to_capacity_then_grows_per_stream():
    model = LagModel(base_s=0.3, capacity=4, per_stream_s=0.5)
    assert [model.lag(n) for n in (1, 4, 5, 7)] == [0.3, 0.3, 0.8, pytest.approx(1.8)]


def test_silent_streams_with_vad_cost_a_share_and_move_the_knee():
    model = LagModel(base_s=0.1, capacity=2, per_stream_s=0.3, silence_cost=0.1)
    assert model.load(4, 0) == 4.0 and model.load(4, 3) == pytest.approx(1.3)
    assert model.lag(model.load(4, 0)) == pytest.approx(0.7)  # all speaking: beyond the knee
    assert model.lag(model.load(4, 2)) == pytest.approx(0.16)  # two silent: under it, nearly
    assert model.lag(model.load(4, 3)) == 0.1
    assert LagModel(capacity=2).load(4, 3) == 4.0  # the default: silence costs as much as speech
    skipping = LagModel(capacity=2, skip_overload=True, silence_cost=0.0)
    assert skipping.skipped_share(skipping.load(4, 2)) == 0.0 and skipping.skipped_share(4.0) == 0.5


def test_the_simulated_vad_hears_silence_below_minus_60_dbfs():
    assert is_silence(np.zeros(4096, dtype=np.float32))
    assert is_silence(np.full(4096, 5e-4, dtype=np.float32))
    assert not is_silence(np.full(4096, 2e-3, dtype=np.float32))
    assert is_silence(np.zeros(0, dtype=np.float32))


def test_words_are_spread_evenly_over_the_utterance():
    u = SpokenUtterance(start_s=2.0, end_s=6.0, words=("one", "two", "three", "four"))
    assert u.text_until(2.0) == ""
    assert u.text_until(3.0) == " one"
    assert u.text_until(5.9) == " one two three"
    assert u.segment(4.0) == Segment(2.0, 4.0, " one two", completed=False)
    assert u.segment(7.0) == Segment(2.0, 6.0, " one two three four", completed=True)


def test_transcript_sends_the_last_n_started_utterances():
    a = SpokenUtterance(0.0, 2.0, ("a",))
    b = SpokenUtterance(3.0, 5.0, ("b",))
    c = SpokenUtterance(6.0, 8.0, ("c",))
    assert transcript([a, b, c], covered_s=4.0, last_n=10) == (a.segment(4.0), b.segment(4.0))
    assert transcript([a, b, c], covered_s=9.0, last_n=2) == (b.segment(9.0), c.segment(9.0))


def test_segments_message_has_string_times_like_upstream():
    msg = encode_segments("u", (Segment(1.0, 2.5, " hi", True),))
    assert msg == {
        "uid": "u",
        "segments": [{"start": "1.000", "end": "2.500", "text": " hi", "completed": True}],
    }


@pytest.mark.parametrize(
    ("kind", "event"),
    [
        ("bad_json", Malformed),
        ("wrong_uid", Malformed),
        ("unknown", Unknown),
        ("warning", ServerWarning),
        ("error", ServerError),
        ("wait", Wait),
        ("disconnect", Disconnect),
        ("oversized", Unknown),
    ],
)
def test_each_injected_message_is_the_hostile_case_it_names(kind, event):
    decoded = decode(fault_message(kind, "u-1"), "u-1")
    assert isinstance(decoded, event)
    if kind in ("bad_json", "wrong_uid"):
        assert decoded.kind == kind


def test_the_oversized_message_is_above_the_clients_limit_and_every_mode_is_a_fault():
    assert len(fault_message("oversized", "u").encode()) > MAX_MESSAGE_BYTES
    assert FAULT_MODES["none"] == Fault()
    assert all(mode == "none" or fault != Fault() for mode, fault in FAULT_MODES.items())


def test_skipping_keeps_the_lag_and_drops_the_share_beyond_capacity():
    model = LagModel(base_s=0.3, capacity=2, per_stream_s=0.5, skip_overload=True)
    assert [model.lag(n) for n in (1, 2, 8)] == [0.3, 0.3, 0.3]
    assert [model.skipped_share(n) for n in (1, 2, 4, 8)] == [0.0, 0.0, 0.5, 0.75]
    kept = [model.keeps(t / 100, 4) for t in range(0, 400)]  # two cycles of 2 s, 10 ms apart
    assert sum(kept) == 200 and not model.keeps(0.5, 4) and model.keeps(1.5, 4)
    assert all(model.keeps(t / 100, 2) for t in range(400))
    assert not LagModel(capacity=2).skipped_share(8)  # without skip_overload nothing is skipped


def test_no_segment_covers_skipped_audio_and_its_words_are_missing():
    u = SpokenUtterance(start_s=0.0, end_s=4.0, words=("one", "two", "three", "four"))
    skipped = [(1.0, 2.0)]
    assert u.pieces(skipped) == [(0.0, 1.0), (2.0, 4.0)]
    assert transcript([u], covered_s=5.0, last_n=10, skipped=skipped) == (
        Segment(0.0, 1.0, " one", completed=True),
        Segment(2.0, 4.0, " three four", completed=True),
    )
    assert transcript([u], covered_s=3.0, last_n=10, skipped=skipped)[-1] == Segment(
        2.0, 3.0, " three", False
    )
    assert transcript([u], covered_s=5.0, last_n=10) == (u.segment(5.0),)  # nothing skipped: one segment
