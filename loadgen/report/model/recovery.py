"""Failures and recovery: what chaos did to the sessions and how load moved between replicas. Pure.

A session is affected when it reconnected at least once or was dropped. It recovered when it reconnected
and then ended in a success or was stopped by the load generator while streaming again (the end of a
soak or a step); it never recovered when it was affected and ended dropped, in an error or refused.
The replica shares count connections: before = first connections of sessions started before the first
chaos event; after = first connections of sessions started after it, plus every reconnection (without a
chaos event, before counts every first connection).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from loadgen.core.kpi import LatencyStats
from loadgen.core.session_result import DROPPED, RECOVERED, STOPPED, SUCCESSES, SessionResult
from loadgen.core.untranscribed import Untranscribed

CHAOS = "chaos"


@dataclass(frozen=True)
class AffectedSession:
    """One session a drop hit: the speech it lost, beside the words its transcript misses."""

    uid: str
    replicas: list[str]
    outcome: str
    reconnects: int
    untranscribed: Untranscribed | None  # None: not measured (a file written before it)
    deletions: int | None  # None: no reference
    reference_words: int | None


@dataclass(frozen=True)
class Recovery:
    """The evidence of the "Failures and recovery" section."""

    chaos_events: list[dict[str, Any]]
    sessions: int
    affected: int
    recovered: int
    never_recovered: int
    reconnects: int
    reconnect_s: LatencyStats
    audio_lost_s: float
    audio_lost_max_s: float
    offline_s: float
    share_before: dict[str, float]
    share_after: dict[str, float]
    untranscribed: Untranscribed | None = None  # every session's, summed (None: none measured)
    affected_sessions: list[AffectedSession] | None = None


def _shares(counts: Counter[str]) -> dict[str, float]:
    total = sum(counts.values())
    return {replica: n / total for replica, n in sorted(counts.items())} if total else {}


def _affected(result: SessionResult) -> bool:
    return result.reconnects > 0 or result.outcome in (DROPPED, RECOVERED)


def build_recovery(sessions: Sequence[SessionResult], events: Sequence[dict[str, Any]]) -> Recovery | None:
    """The section's data; None when there was no chaos event and no session reconnected."""
    chaos = sorted((e for e in events if e.get("kind") == CHAOS), key=lambda e: float(e.get("at") or 0))
    if not chaos and not any(r.reconnects for r in sessions):
        return None
    split = float(chaos[0]["at"]) if chaos and chaos[0].get("at") is not None else None
    before: Counter[str] = Counter()
    after: Counter[str] = Counter()
    for r in sessions:
        first = r.replica or (r.replicas[0] if r.replicas else None)
        if first:
            (after if split is not None and r.started_at >= split else before)[first] += 1
        after.update(r.replicas[1:])
    affected = [r for r in sessions if _affected(r)]
    lost = [r.audio_lost_s for r in sessions]
    measured = [r.untranscribed for r in sessions if r.untranscribed is not None]
    return Recovery(
        chaos_events=chaos,
        sessions=len(sessions),
        affected=len(affected),
        recovered=sum(r.reconnects > 0 and r.outcome in (*SUCCESSES, STOPPED) for r in affected),
        never_recovered=sum(r.outcome not in (*SUCCESSES, STOPPED) for r in affected),
        reconnects=sum(r.reconnects for r in sessions),
        reconnect_s=LatencyStats.of([s for r in sessions for s in r.reconnect_s]),
        audio_lost_s=sum(lost),
        audio_lost_max_s=max(lost, default=0.0),
        offline_s=sum(r.offline_s for r in sessions),
        share_before=_shares(before),
        share_after=_shares(after),
        untranscribed=Untranscribed.sum(measured).rounded() if measured else None,
        affected_sessions=[_affected_session(r) for r in affected],
    )


def _affected_session(r: SessionResult) -> AffectedSession:
    words = r.word_errors
    return AffectedSession(
        r.uid,
        r.replicas,
        r.outcome,
        r.reconnects,
        r.untranscribed,
        None if words is None else words.deletions,
        None if words is None else words.reference_words,
    )
