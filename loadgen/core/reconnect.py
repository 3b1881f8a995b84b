"""Reconnection arithmetic: when to retry, and where in the plan a resumed stream picks up. Pure.

A dropped session reconnects through the balancer like a live client would: the first retry is
immediate, later ones back off exponentially (capped, with jitter), and a session makes at most
`max_attempts` reconnect attempts in all. Audio is never buffered across the gap: the new connection
resumes at the chunk that is being "spoken" now on the session's original live clock, and everything
between the last chunk sent and that chunk is lost, as it would be in a live meeting.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain

from loadgen.core.stream_audio import Chunk


@dataclass(frozen=True)
class ReconnectPolicy:
    """Bounded exponential backoff with jitter; `max_attempts` bounds a session's attempts in all."""

    max_attempts: int = 5
    base_s: float = 0.25
    factor: float = 2.0
    cap_s: float = 4.0
    jitter: float = 0.5  # each delay is scaled by a uniform factor in [1 - jitter, 1]

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before attempt `attempt` (0-based within one drop): 0 for the first."""
        if attempt <= 0:
            return 0.0
        bound = min(self.cap_s, self.base_s * self.factor ** (attempt - 1))
        return bound * (1.0 - self.jitter * rng.random())


@dataclass(frozen=True)
class Resume:
    """Where a reconnected stream starts: its first chunk's start (the new connection's stream time 0
    maps there) and the audio that fell in the gap."""

    offset_s: float
    lost_s: float


def resume_chunks(
    remaining: Iterator[Chunk], sent_until_s: float, live_position_s: float
) -> tuple[Resume, Iterator[Chunk]]:
    """Skip the chunks that ended before `live_position_s` (the gap) and return where streaming resumes
    and the chunks from there on. `sent_until_s` is the end of the last chunk sent before the drop."""
    start = sent_until_s
    for chunk in remaining:
        if chunk.end_s > live_position_s:
            return Resume(start, start - sent_until_s), chain((chunk,), remaining)
        start = chunk.end_s
    # The drop outlasted the plan: the rest of the speech is lost, the tail resumes at the live position.
    offset = max(start, live_position_s)
    return Resume(offset, start - sent_until_s), iter(())
