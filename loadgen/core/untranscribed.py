"""Untranscribed speech: the speech of a stream that no received segment ever covered, split by cause.

Pure: a function of spans on the stream's timeline (plan seconds), never a clock.
- speech: the plan's utterance spans (`StreamPlan.speech_spans`), the silence between them excluded;
- covered: the union of every segment with text the session ever received, shifted onto the plan's
  timeline by the tracker (`Coverage`);
- drops: per connection that failed mid-stream, the transcript frontier then, the end of the audio sent
  on it, and where the next connection resumed (None: none did);
- horizon: how far the stream got (audio after it was never streamed: not counted).

Each uncovered stretch of speech is charged to one cause, in this order:
- `gap`: between the end of the audio sent before a drop and the resume position: never sent (the
  session's `audio_lost_s`, counted here only where it is speech);
- `in_flight`: between the transcript frontier at a drop and the end of the audio sent before it: sent
  to a replica that died or hung before answering;
- `skipped`: the rest, in stretches of at least `MIN_SKIP_S`: the server passed over audio it received.
  Shorter holes are not counted: a Whisper segment's timestamps are not exact to the word, and each
  utterance's recording starts and ends with a little silence, so coverage leaves small holes at
  utterance edges that are not lost speech.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

Spans = list[tuple[float, float]]  # sorted, disjoint, non-empty (start, end) pairs, seconds

MIN_SKIP_S = 1.0


@dataclass(frozen=True)
class Drop:
    """A connection that failed mid-stream (plan seconds)."""

    frontier_s: float  # the session's transcript frontier when it failed
    sent_until_s: float  # the end of the last chunk sent before it failed
    resume_s: float | None = None  # where the next connection's audio started; None: none did


@dataclass(frozen=True)
class Untranscribed:
    """Seconds of speech no segment covered, by cause (module docstring)."""

    in_flight_s: float
    gap_s: float
    skipped_s: float

    @property
    def total_s(self) -> float:
        """All causes together."""
        return self.in_flight_s + self.gap_s + self.skipped_s

    def __add__(self, other: Untranscribed) -> Untranscribed:
        return Untranscribed(
            self.in_flight_s + other.in_flight_s, self.gap_s + other.gap_s, self.skipped_s + other.skipped_s
        )

    def rounded(self) -> Untranscribed:
        """To the millisecond, as written."""
        return Untranscribed(round(self.in_flight_s, 3), round(self.gap_s, 3), round(self.skipped_s, 3))

    def to_json_dict(self) -> dict[str, float]:
        """The `untranscribed` object of a session line or a window."""
        return {"in_flight_s": self.in_flight_s, "gap_s": self.gap_s, "skipped_s": self.skipped_s}

    @classmethod
    def from_json(cls, data: Any) -> Untranscribed | None:
        """An `untranscribed` object; None when absent or malformed (files written before it)."""
        if not isinstance(data, dict):
            return None
        values = [data.get(k) for k in ("in_flight_s", "gap_s", "skipped_s")]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            return None
        return cls(*(float(v) for v in values))  # type: ignore[arg-type]

    @classmethod
    def sum(cls, parts: Iterable[Untranscribed | None]) -> Untranscribed:
        """The sum of the parts that are known (None: not measured)."""
        out = cls(0.0, 0.0, 0.0)
        for part in parts:
            if part is not None:
                out += part
        return out


NONE = Untranscribed(0.0, 0.0, 0.0)


class Coverage:
    """The union of spans added so far, kept sorted and disjoint (fed every received segment)."""

    __slots__ = ("_ends", "_starts")

    def __init__(self) -> None:
        self._starts: list[float] = []
        self._ends: list[float] = []

    def add(self, start: float, end: float) -> None:
        """Cover [start, end] (ignored when empty)."""
        if end <= start:
            return
        starts, ends = self._starts, self._ends
        i = bisect_left(ends, start)  # the first span that ends at or after `start`
        if i < len(starts) and starts[i] <= start and end <= ends[i]:
            return  # already covered: the usual case, segments are re-sent with every update
        j = i
        while j < len(starts) and starts[j] <= end:
            j += 1
        if j > i:
            start, end = min(start, starts[i]), max(end, ends[j - 1])
        starts[i:j], ends[i:j] = [start], [end]

    @property
    def spans(self) -> Spans:
        """The covered spans, in order."""
        return list(zip(self._starts, self._ends, strict=True))


def merge(spans: Iterable[tuple[float, float]]) -> Spans:
    """Sorted, disjoint union of `spans` (empty ones dropped)."""
    out: Spans = []
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def subtract(spans: Spans, minus: Spans) -> Spans:
    """`spans` without `minus` (both sorted and disjoint)."""
    out: Spans = []
    j = 0
    for start, end in spans:
        while j < len(minus) and minus[j][1] <= start:
            j += 1
        k = j
        while k < len(minus) and minus[k][0] < end:
            if minus[k][0] > start:
                out.append((start, minus[k][0]))
            start = max(start, minus[k][1])
            k += 1
        if end > start:
            out.append((start, end))
    return out


def intersect(spans: Spans, other: Spans) -> Spans:
    """`spans` within `other` (both sorted and disjoint)."""
    return subtract(spans, subtract(spans, other))


def length(spans: Spans) -> float:
    """Seconds covered by disjoint spans."""
    return sum(end - start for start, end in spans)


def untranscribed(
    speech: Sequence[tuple[float, float]],
    covered: Sequence[tuple[float, float]],
    drops: Sequence[Drop],
    horizon_s: float,
) -> Untranscribed:
    """The speech up to `horizon_s` that no span of `covered` covers, by cause (module docstring)."""
    streamed = intersect(merge(speech), [(0.0, horizon_s)])
    missed = subtract(streamed, merge(covered))
    gaps = merge((d.sent_until_s, d.resume_s) for d in drops if d.resume_s is not None)
    gap = intersect(missed, gaps)
    missed = subtract(missed, gaps)
    in_flight = intersect(missed, merge((d.frontier_s, d.sent_until_s) for d in drops))
    skipped = [s for s in subtract(missed, in_flight) if s[1] - s[0] >= MIN_SKIP_S]
    return Untranscribed(length(in_flight), length(gap), length(skipped))
