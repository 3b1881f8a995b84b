"""Transcript tracking of one stream: frontier, finalized segments, lag samples, final hypothesis.

Pure: it is fed (receive time, segments) pairs and never reads a clock itself. WhisperLive re-sends its
last N segments with every update; completed segments are keyed by their start (to the millisecond,
as the server formats it) and the last text seen for a start wins.

A session that reconnects keeps one tracker: each new connection restarts stream time at 0, so
`new_connection(offset_s)` shifts every later segment by where that connection's audio starts in the
plan. The frontier, the lags (against the session's original live clock) and the transcript carry on;
the old connection's trailing partial is kept as the last word it said.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from loadgen.core.clock import LiveClock
from loadgen.core.protocol import Segment
from loadgen.core.untranscribed import Coverage

# Segment times come as strings with three decimals; compare them at that resolution.
_RESOLUTION_S = 0.001


def _key(seconds: float) -> int:
    return round(seconds / _RESOLUTION_S)


@dataclass
class TranscriptTracker:
    """Accumulates what the server said about one stream, measured against its live clock."""

    clock: LiveClock
    frontier_s: float = 0.0
    transcript_lags: list[float] = field(default_factory=list)
    finalization_lags: list[float] = field(default_factory=list)
    first_text_at: float | None = None
    last_change_at: float | None = None
    segments_received: int = 0
    offset_s: float = 0.0  # plan position of the current connection's stream time 0
    coverage: Coverage = field(default_factory=Coverage)  # every segment with text ever received
    _completed: dict[int, Segment] = field(default_factory=dict)
    _partial: Segment | None = None
    _abandoned_partials: int = 0

    def new_connection(self, offset_s: float) -> None:
        """A reconnect: later segments are shifted by `offset_s`; the trailing partial of the
        connection that dropped is kept as it was last seen."""
        partial = self.trailing_partial
        if partial is not None and partial.text.strip():
            self._completed[_key(partial.start)] = partial
            self._abandoned_partials += 1
        self._partial = None
        self.offset_s = offset_s

    def observe(self, received_at: float, segments: Sequence[Segment]) -> bool:
        """Take one segments message (in the connection's stream time); return whether it changed
        the transcript."""
        self.segments_received += len(segments)
        if self.offset_s:
            shift = self.offset_s
            segments = [replace(s, start=s.start + shift, end=s.end + shift) for s in segments]
        changed = self._advance_frontier(received_at, segments)
        cover = self.coverage.add
        for segment in segments:
            changed |= self._record(received_at, segment)
            if segment.text.strip():
                cover(segment.start, segment.end)
        partial = segments[-1] if segments and not segments[-1].completed else None
        changed |= partial != self._partial
        self._partial = partial
        if changed:
            self.last_change_at = received_at
        if self.first_text_at is None and any(s.text.strip() for s in segments):
            self.first_text_at = received_at
        return changed

    def _advance_frontier(self, received_at: float, segments: Sequence[Segment]) -> bool:
        furthest = max((s.end for s in segments), default=0.0)
        if _key(furthest) <= _key(self.frontier_s):
            return False
        self.frontier_s = furthest
        self.transcript_lags.append(self.clock.lag(received_at, furthest))
        return True

    def _record(self, received_at: float, segment: Segment) -> bool:
        if not segment.completed:
            return False
        key = _key(segment.start)
        previous = self._completed.get(key)
        if previous is None:
            self.finalization_lags.append(self.clock.lag(received_at, segment.end))
        self._completed[key] = segment
        return previous != segment

    @property
    def completed_segments(self) -> list[Segment]:
        """Finalized segments in stream order."""
        return [self._completed[k] for k in sorted(self._completed)]

    @property
    def trailing_partial(self) -> Segment | None:
        """The last incomplete segment, if it starts after everything finalized."""
        if self._partial is None:
            return None
        last_end = max((s.end for s in self._completed.values()), default=0.0)
        return self._partial if _key(self._partial.start) >= _key(last_end) else None

    @property
    def unfinalized_segments(self) -> int:
        """Segments the server never completed: the trailing partial, if any, and those of dropped
        connections."""
        partial = self.trailing_partial
        return int(partial is not None and bool(partial.text.strip())) + self._abandoned_partials

    def hypothesis(self) -> str:
        """The final transcript: completed segments plus the trailing partial."""
        parts = [s.text.strip() for s in self.completed_segments]
        partial = self.trailing_partial
        if partial is not None:
            parts.append(partial.text.strip())
        return " ".join(p for p in parts if p)
