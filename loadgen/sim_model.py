"""The simulator's behaviour as pure values: how late it answers, and what transcript it says.

The simulator replays the reference transcript of each utterance it recognizes in the stream: the words
are spread evenly over the utterance's audio, and a transcript covering stream position e is sent
`lag(active streams)` seconds after the audio up to e arrived.
"""

from __future__ import annotations

from dataclasses import dataclass

from loadgen.protocol import Segment


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
