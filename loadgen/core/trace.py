"""Traces: a list of sessions (start offset, length, speaking profile or file) to replay. Pure.

The file formats (CSV with a header, or JSON lines) are read and written by loadgen.data.traces; this
module turns their rows into `Arrival`s and back, scales time for a faster replay, and derives a trace
from an earlier run's sessions. docs/TRACES.md is the format.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from loadgen.core.arrivals import Arrival
from loadgen.core.session_result import SessionResult

FIELDS = ("start_s", "length_s", "profile", "file")  # the CSV header, in order; profile and file optional


def _number(row: Mapping[str, Any], key: str, where: str) -> float:
    value = row.get(key)
    try:
        number = (
            float(value) if isinstance(value, int | float | str) and not isinstance(value, bool) else None
        )
    except ValueError:
        number = None
    if number is None or not math.isfinite(number):
        raise ValueError(f"{where}: {key} {value!r} is not a number")
    return number


def _text(row: Mapping[str, Any], key: str) -> str | None:
    value = row.get(key)
    return str(value) if value not in (None, "") else None


def arrival_from_row(row: Mapping[str, Any], where: str) -> Arrival:
    """One trace row (CSV strings or JSON values); ValueError names `where` (file:line) and the field."""
    start, length = _number(row, "start_s", where), _number(row, "length_s", where)
    if start < 0 or not length > 0:
        raise ValueError(f"{where}: start_s must be >= 0 and length_s > 0, got {start:g} and {length:g}")
    return Arrival(start, length, _text(row, "profile"), _text(row, "file"))


def arrival_row(arrival: Arrival) -> dict[str, Any]:
    """The row written for `arrival` (times to the millisecond; absent profile and file left empty)."""
    return {
        "start_s": round(arrival.start_s, 3),
        "length_s": round(arrival.length_s, 3),
        "profile": arrival.profile or "",
        "file": arrival.file or "",
    }


def scaled(arrivals: Sequence[Arrival], time_scale: float) -> list[Arrival]:
    """The trace replayed `time_scale` times faster: start offsets divided by it, lengths unchanged
    (audio is streamed in real time), sorted by start."""
    if not time_scale > 0:
        raise ValueError(f"time scale must be > 0, got {time_scale}")
    return sorted(
        (Arrival(a.start_s / time_scale, a.length_s, a.profile, a.file) for a in arrivals),
        key=lambda a: a.start_s,
    )


def trace_of_sessions(results: Iterable[SessionResult]) -> list[Arrival]:
    """A trace of a run's sessions: start offsets from the first `started_at`, lengths from the audio
    each streamed (from `ended_at` where no audio was sent), the file when the session streamed one. Idle
    clients' sessions are left out: they were connections held open, not sessions that spoke."""
    sessions = sorted((r for r in results if not r.idle), key=lambda r: r.started_at)
    if not sessions:
        return []
    t0 = sessions[0].started_at
    trace = []
    for r in sessions:
        length = r.audio_sent_s or ((r.ended_at or r.started_at) - r.started_at)
        if length > 0:
            trace.append(
                Arrival(r.started_at - t0, length, None, r.utterances[0] if len(r.utterances) == 1 else None)
            )
    return trace
