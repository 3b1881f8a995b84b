"""The simulator's behaviour as pure values: how late it answers, what transcript it says, and how it
misbehaves when asked to (`Fault`, one per `--fault` mode: each hostile-server case the load generator
must classify and survive).

The simulator replays the reference transcript of each utterance it recognizes in the stream: the words
are spread evenly over the utterance's audio, and a transcript covering stream position e is sent
`lag(load)` seconds after the audio up to e arrived. With `skip_overload` it keeps its lag beyond its
capacity and skips audio instead, as WhisperLive does when it falls behind: no segment ever covers the
skipped audio, and its words are missing from the transcript.

The load is VAD-aware: a stream that asked for VAD (`use_vad`, upstream's default) and whose last chunk
is silence (RMS below `SILENCE_RMS`) costs `silence_cost` of a speaking stream, as WhisperLive's VAD
skips the model on silence; so the knee moves with the share of speech in the streams.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from loadgen.core.protocol import Segment

SILENCE_RMS = 1e-3  # a chunk quieter than this (-60 dBFS) is silence to the simulated VAD
SKIP_CYCLE_S = 2.0  # skipping drops the first share of every cycle of this much stream audio
Span = tuple[float, float]  # (start, end) in stream seconds


@dataclass(frozen=True)
class LagModel:
    """Deterministic lag: `base_s` up to a load of `capacity` streams, `per_stream_s` more per stream
    beyond; or, with `skip_overload`, `base_s` always and a share 1 - capacity/load of every stream's
    audio skipped beyond capacity (the share it has no time for). The load counts a speaking stream 1 and
    a silent one with VAD `silence_cost` (`load`)."""

    base_s: float = 0.3
    capacity: int = 4
    per_stream_s: float = 0.5
    skip_overload: bool = False
    silence_cost: float = 1.0  # 1: silence costs as much as speech (no VAD saving)

    def load(self, active_streams: int, silent_streams: int) -> float:
        """The load of `active_streams`, `silent_streams` of them silent with VAD on."""
        return active_streams - silent_streams * (1.0 - self.silence_cost)

    def lag(self, load: float) -> float:
        """Seconds between audio arriving and the transcript that covers it being sent."""
        if self.skip_overload:
            return self.base_s
        return self.base_s + self.per_stream_s * max(0.0, load - self.capacity)

    def skipped_share(self, load: float) -> float:
        """The share of each stream's audio skipped at this load."""
        if not self.skip_overload or load <= self.capacity:
            return 0.0
        return 1.0 - self.capacity / load

    def keeps(self, position_s: float, load: float) -> bool:
        """Whether audio starting at stream position `position_s` is transcribed (else skipped): the
        first `skipped_share` of every SKIP_CYCLE_S of audio is skipped."""
        return position_s % SKIP_CYCLE_S >= self.skipped_share(load) * SKIP_CYCLE_S


def is_silence(samples: np.ndarray) -> bool:
    """Whether a chunk is silence to the simulated VAD (RMS below `SILENCE_RMS`; empty: silence)."""
    if not len(samples):
        return True
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) < SILENCE_RMS


@dataclass(frozen=True)
class SpokenUtterance:
    """An utterance recognized in the stream: where it starts and ends (seconds) and its words."""

    start_s: float
    end_s: float
    words: tuple[str, ...]

    def _spoken(self, position_s: float) -> int:
        """How many words are spoken by `position_s` (spread evenly over the utterance)."""
        if not self.words or position_s <= self.start_s:
            return 0
        spoken = (position_s - self.start_s) / (self.end_s - self.start_s) * len(self.words)
        return min(len(self.words), int(spoken + 1e-9))

    def _text(self, start_s: float, end_s: float) -> str:
        words = self.words[self._spoken(start_s) : self._spoken(end_s)]
        return " " + " ".join(words) if words else ""

    def text_until(self, position_s: float) -> str:
        """The words already spoken at `position_s`."""
        return self._text(self.start_s, position_s)

    def segment(self, covered_s: float) -> Segment:
        """The segment for this utterance once audio up to `covered_s` is transcribed."""
        return self._piece((self.start_s, self.end_s), covered_s)

    def _piece(self, span: Span, covered_s: float) -> Segment:
        end = min(covered_s, span[1])
        return Segment(span[0], end, self._text(span[0], end), completed=covered_s >= span[1])

    def pieces(self, skipped: Sequence[Span]) -> list[Span]:
        """The utterance's audio less the skipped spans (sorted, apart), as spans."""
        kept, start = [], self.start_s
        for a, b in skipped:
            if b <= start or a >= self.end_s:
                continue
            if a > start:
                kept.append((start, a))
            start = max(start, b)
        if start < self.end_s:
            kept.append((start, self.end_s))
        return kept

    def segments(self, covered_s: float, skipped: Sequence[Span]) -> list[Segment]:
        """A segment per piece not skipped, once audio up to `covered_s` is transcribed."""
        return [self._piece(span, covered_s) for span in self.pieces(skipped) if span[0] < covered_s]


def transcript(
    utterances: list[SpokenUtterance], covered_s: float, last_n: int, skipped: Sequence[Span] = ()
) -> tuple[Segment, ...]:
    """The last `last_n` segments covering audio up to `covered_s`, the way WhisperLive sends them; no
    segment covers a skipped span."""
    started = [s for u in utterances if u.start_s < covered_s for s in u.segments(covered_s, skipped)]
    return tuple(started[-last_n:])


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
