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
    transcript,
)


def test_lag_is_flat_up_to_capacity_then_grows_per_stream():
    model = LagModel(base_s=0.3, capacity=4, per_stream_s=0.5)
    assert [model.lag(n) for n in (1, 4, 5, 7)] == [0.3, 0.3, 0.8, pytest.approx(1.8)]


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
