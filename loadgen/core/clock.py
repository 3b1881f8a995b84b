"""The one clock every latency in the tool is derived from. Pure arithmetic, no time source.

- `t0` is when SERVER_READY arrived (monotonic seconds).
- Chunk k holds audio [k*c, (k+1)*c) and is due at t0 + (k+1)*c: the moment a live microphone would
  have captured its last sample. In general a chunk ending at stream position e is due at t0 + e.
- The lag of anything that covers audio up to stream position e is receive time - (t0 + e).
- Send slip = actual start of a send - its due time. It measures the load generator, not the server.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LiveClock:
    """Due times, lags and slips of one stream anchored at `t0` (monotonic seconds)."""

    t0: float

    def due(self, end_s: float) -> float:
        """When a chunk ending at stream position `end_s` is due: its last sample exists then."""
        return self.t0 + end_s

    def lag(self, received_at: float, position_s: float) -> float:
        """How long after audio position `position_s` existed a message covering it arrived."""
        return received_at - (self.t0 + position_s)

    def slip(self, sent_at: float, end_s: float) -> float:
        """How late the send of the chunk ending at `end_s` started (about 0 when on time)."""
        return sent_at - self.due(end_s)
