"""The simulator's behaviour as pure values: how late it answers, what transcript it says, and how it
misbehaves when asked to (`Fault`, one per `--fault` mode: each hostile-server case the load generator
must classify and survive).

The simulator replays the reference transcript of each utterance it recognizes in the stream: the words
are spread evenly over the utterance's audio, and a transcript covering stream position e is sent
`lag(active streams)` seconds after the audio up to e arrived.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from loadgen.core.protocol import Segment


@dataclass(frozen=True)
class LagModel:
    """Deterministic lag: `base_s` up to `capacity` active streams, `per_stream_s` more per stream beyond."""

    base_s: float = 0.3
    capacity: int = 4
    per_stream_s: float = 0.5

    def lag(self, active_streams: int) -> float:
        """Seconds between audio arriving and the transcript that covers it being sent."""
        return self.base_s + self.per_stream_s * max(0, active_streams - self.capacity)


@dataclass(frozen=True)
class SpokenUtterance:
    """An utterance recognized in the stream: where it starts and ends (seconds) and its words."""

    start_s: float
    end_s: float
    words: tuple[str, ...]

    def text_until(self, position_s: float) -> str:
        """The words already spoken at `position_s` (spread evenly over the utterance)."""
        if not self.words or position_s <= self.start_s:
            return ""
        spoken = (position_s - self.start_s) / (self.end_s - self.start_s) * len(self.words)
        return " " + " ".join(self.words[: min(len(self.words), int(spoken + 1e-9))])

    def segment(self, covered_s: float) -> Segment:
        """The segment for this utterance once audio up to `covered_s` is transcribed."""
        end = min(covered_s, self.end_s)
        return Segment(self.start_s, end, self.text_until(end), completed=covered_s >= self.end_s)


def transcript(utterances: list[SpokenUtterance], covered_s: float, last_n: int) -> tuple[Segment, ...]:
    """The last `last_n` segments covering audio up to `covered_s`, the way WhisperLive sends them."""
    started = [u for u in utterances if u.start_s < covered_s]
    return tuple(u.segment(covered_s) for u in started[-last_n:])


def encode_segments(uid: str, segments: tuple[Segment, ...]) -> dict[str, object]:
    """The segments message exactly as WhisperLive 0.10.0 formats it (times as 3-decimal strings)."""
    return {
        "uid": uid,
        "segments": [
            {"start": f"{s.start:.3f}", "end": f"{s.end:.3f}", "text": s.text, "completed": s.completed}
            for s in segments
        ],
    }


@dataclass(frozen=True)
class Fault:
    """How the simulated server misbehaves; the default behaves. Message kinds are `fault_message` keys."""

    handshake: tuple[str, ...] = ()  # sent after the options, before SERVER_READY
    ready: bool = True  # False: never send SERVER_READY (after `handshake`)
    close_in_handshake: bool = False  # close the socket instead of answering the options
    mid_stream: tuple[str, ...] = ()  # sent once, when the first audio frame arrives
    transcribe: bool = True  # False: accept audio, never answer
    drop_first_after_s: float | None = None  # close a uid's first connection after this much audio


FAULT_MODES: dict[str, Fault] = {
    "none": Fault(),
    "malformed-json": Fault(handshake=("bad_json",), mid_stream=("bad_json",)),
    "wrong-uid": Fault(handshake=("wrong_uid",), mid_stream=("wrong_uid",)),
    "unknown-type": Fault(handshake=("unknown",), mid_stream=("unknown",)),
    "warning": Fault(handshake=("warning",), mid_stream=("warning",)),
    "error": Fault(handshake=("error",), ready=False),
    "error-mid-stream": Fault(mid_stream=("error",)),
    "wait": Fault(handshake=("wait",), ready=False),
    "disconnect": Fault(mid_stream=("disconnect",)),
    "no-ready": Fault(ready=False),
    "close-in-handshake": Fault(close_in_handshake=True),
    "mute": Fault(transcribe=False),
    "oversized": Fault(mid_stream=("oversized",)),
    "drop": Fault(drop_first_after_s=1.5),
}

OVERSIZED_BYTES = 2**21  # above the load generator's 1 MiB message limit


def fault_message(kind: str, uid: str) -> str:
    """The raw text frame of one injected message kind for the stream `uid`."""
    messages: dict[str, object] = {
        "wrong_uid": {"uid": f"not-{uid}", "segments": [{"start": "0.000", "end": "1.000", "text": " x"}]},
        "unknown": {"uid": uid, "heartbeat": 1},
        "warning": {"uid": uid, "status": "WARNING", "message": "simulated warning"},
        "error": {"uid": uid, "status": "ERROR", "message": "simulated error"},
        "wait": {"uid": uid, "status": "WAIT", "message": 2.5},
        "disconnect": {"uid": uid, "message": "DISCONNECT"},
    }
    if kind == "bad_json":
        return '{"uid": "' + uid + '", "segments": ['
    if kind == "oversized":
        return json.dumps({"uid": uid, "padding": "x" * OVERSIZED_BYTES})
    return json.dumps(messages[kind])
