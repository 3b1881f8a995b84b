import json
import math

import pytest

from loadgen.core.protocol import (
    Disconnect,
    Language,
    Malformed,
    Ready,
    Segment,
    Segments,
    ServerError,
    ServerWarning,
    StreamDecoder,
    StreamOptions,
    Unknown,
    Wait,
    decode,
)

UID = "u-1"


def msg(**fields):
    return json.dumps({"uid": UID, **fields})


def test_options_always_carry_use_vad_and_the_uid():
    for use_vad in (True, False):
        sent = json.loads(StreamOptions(uid=UID, use_vad=use_vad).to_json())
        assert sent["use_vad"] is use_vad
        assert sent["uid"] == UID
        assert sent["model"] == "tiny.en" and sent["task"] == "transcribe"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (msg(message="SERVER_READY", backend="faster_whisper"), Ready("faster_whisper")),
        (msg(status="WAIT", message=2.5), Wait(2.5)),
        (msg(status="ERROR", message="Failed to load model: x"), ServerError("Failed to load model: x")),
        (msg(status="WARNING", message="careful"), ServerWarning("careful")),
        (msg(message="DISCONNECT"), Disconnect()),
        (msg(language="en", language_prob=0.9), Language("en", 0.9)),
        (msg(translated_segments=[]), Unknown(("translated_segments", "uid"))),
    ],
)
def test_decode_classifies_every_upstream_message(raw, expected):
    assert decode(raw, UID) == expected


def test_segments_parse_string_times_and_completed_flags():
    raw = msg(
        segments=[
            {"start": "0.000", "end": "2.480", "text": " Hello there.", "completed": True},
            {"start": "2.480", "end": "3.100", "text": " How", "completed": False},
        ]
    )
    assert decode(raw, UID) == Segments(
        (Segment(0.0, 2.48, " Hello there.", True), Segment(2.48, 3.1, " How", False))
    )


def test_wait_with_a_non_numeric_message_is_still_a_wait():
    event = decode(msg(status="WAIT", message="soon"), UID)
    assert isinstance(event, Wait) and math.isnan(event.minutes)


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ("{not json", "bad_json"),
        (b"\x00\x01", "binary_frame"),
        ("[1, 2]", "not_an_object"),
        (json.dumps({"uid": "someone-else", "message": "SERVER_READY"}), "wrong_uid"),
        (msg(segments="nope"), "bad_segment"),
        (msg(segments=[{"start": "a", "end": "1"}]), "bad_segment"),
        (msg(segments=[{"text": "no times"}]), "bad_segment"),
        (msg(segments=["string"]), "bad_segment"),
    ],
)
def test_malformed_messages_are_classified_not_raised(raw, kind):
    event = decode(raw, UID)
    assert isinstance(event, Malformed)
    assert event.kind == kind
    assert "\n" not in event.detail


def _seg(start, end, text, completed):
    return {"start": start, "end": end, "text": text, "completed": completed}


def test_a_stream_decoder_reuses_unchanged_segments_and_parses_changed_ones():
    decoder = StreamDecoder(UID)
    done, partial = _seg("0.000", "2.480", " Hello there.", True), _seg("2.480", "3.100", " How", False)
    first = decoder.decode(msg(segments=[done, partial]))
    grown = _seg("2.480", "3.900", " How are", False)
    second = decoder.decode(msg(segments=[done, grown]))
    assert isinstance(first, Segments) and isinstance(second, Segments)
    assert second.segments[0] is first.segments[0]
    assert second.segments[1] == Segment(2.48, 3.9, " How are", False)
    assert second == decode(msg(segments=[done, grown]), UID)


@pytest.mark.parametrize(
    "odd",
    [_seg("1", "2", 1, True), _seg("1", "2", ["x"], True), _seg(1, 2.0, "a", 1)],
)
def test_a_stream_decoder_parses_odd_segments_as_decode_does(odd):
    decoder = StreamDecoder(UID)
    for same_again in (odd, odd, {**odd, "text": 1.0} if odd["text"] == 1 else odd):
        assert decoder.decode(msg(segments=[same_again])) == decode(msg(segments=[same_again]), UID)


def test_a_stream_decoder_classifies_malformed_segments_after_good_ones():
    decoder = StreamDecoder(UID)
    decoder.decode(msg(segments=[_seg("0", "1", "a", True)]))
    event = decoder.decode(msg(segments=[_seg("0", "1", "a", True), {"text": "no times"}]))
    assert isinstance(event, Malformed) and event.kind == "bad_segment"
