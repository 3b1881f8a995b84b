"""Step records (steps.jsonl) as report rows, and the capacity they prove. Pure.

Records are read tolerantly: a field the driver did not write is None, never an error, so a report of an
interrupted or older run still renders.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from loadgen.session_result import DROPPED, ERROR, OUTCOMES, REFUSED, STOPPED, SUCCESSES

LAG_CRITERION = "p95_transcript_lag"
SOAK = "soak"


@dataclass(frozen=True)
class StepRow:
    """One judged step (or soak window), flattened for tables and plots."""

    index: int
    clients: int
    phase: str
    started_at: float | None
    measure_from: float | None
    ended_at: float | None
    passed: bool | None  # None: not judged (e.g. the run was killed mid-step)
    failed: list[str]  # detail of each failing criterion
    sessions: int
    success_ratio: float | None
    error_ratio: float | None
    refusal_ratio: float | None
    lag_p50: float | None
    lag_p95: float | None
    lag_p99: float | None
    wer: float | None
    throughput: float | None
    send_slip_p99: float | None
    active_max: float | None
    replica_sessions: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Capacity:
    """Max concurrent connections = the largest passing step below the first failing one."""

    max_clients: int | None
    first_failing_clients: int | None
    failing_criteria: list[str]  # at the first failing step
    reason: str  # one line saying how the number was found (or why there is none)
    passed_above_failure: list[int] = field(default_factory=list)  # passing steps above the first failure


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _pct(block: Any, key: str) -> float | None:
    return _num(block.get(key)) if isinstance(block, dict) else None


def _ratios(outcomes: dict[str, Any]) -> tuple[int, float | None, float | None, float | None]:
    counts = {o: int(outcomes.get(o) or 0) for o in OUTCOMES}
    total = sum(counts.values())
    judged = total - counts[STOPPED]
    if not judged:
        return total, None, None, None
    success = sum(counts[o] for o in SUCCESSES) / judged
    return total, success, (counts[ERROR] + counts[DROPPED]) / judged, counts[REFUSED] / judged


def step_row(record: dict[str, Any]) -> StepRow:
    """A row from one steps.jsonl record (see docs/RUN_DIR.md)."""
    window = record.get("window") or {}
    verdict = record.get("verdict") or {}
    criteria = [c for c in verdict.get("criteria") or [] if isinstance(c, dict)]
    lag = window.get("transcript_lag")
    sessions, success, errors, refusals = _ratios(window.get("sessions") or {})
    replicas = window.get("replicas") or {}
    passed = verdict.get("passed")
    return StepRow(
        index=int(record.get("index", 0)),
        clients=int(record.get("clients", 0)),
        phase=str(record.get("phase", "")),
        started_at=_num(record.get("started_at")),
        measure_from=_num(record.get("measure_from")),
        ended_at=_num(record.get("ended_at")),
        passed=passed if isinstance(passed, bool) else None,
        failed=[str(c.get("detail") or c.get("name")) for c in criteria if c.get("passed") is False],
        sessions=sessions,
        success_ratio=success,
        error_ratio=errors,
        refusal_ratio=refusals,
        lag_p50=_pct(lag, "p50"),
        lag_p95=_pct(lag, "p95"),
        lag_p99=_pct(lag, "p99"),
        wer=_num(window.get("wer")),
        throughput=_num(window.get("throughput")),
        send_slip_p99=_pct(window.get("send_slip"), "p99"),
        active_max=_pct(window.get("active_clients"), "max"),
        replica_sessions={str(k): int((v or {}).get("sessions") or 0) for k, v in replicas.items()},
    )


def slo_of(records: Sequence[dict[str, Any]]) -> float | None:
    """The p95 lag limit the steps were judged against (from their criteria), if any."""
    for record in records:
        for criterion in (record.get("verdict") or {}).get("criteria") or []:
            if isinstance(criterion, dict) and criterion.get("name") == LAG_CRITERION:
                limit = _num(criterion.get("limit"))
                if limit is not None:
                    return limit
    return None


def find_capacity(rows: Sequence[StepRow]) -> Capacity:
    """The largest passing client count below the first failing one (a count fails if any of its steps
    failed); unjudged steps are ignored."""
    judged = sorted((r for r in rows if r.passed is not None), key=lambda r: (r.clients, r.index))
    if not judged:
        return Capacity(None, None, [], "no step was judged")
    failing = [r for r in judged if not r.passed]
    first_fail = failing[0] if failing else None
    limit = first_fail.clients if first_fail else None
    passing = {r.clients for r in judged if r.passed} - {r.clients for r in failing}
    below = sorted(c for c in passing if limit is None or c < limit)
    above = sorted(c for c in passing if limit is not None and c > limit)
    criteria = first_fail.failed if first_fail else []
    if not below:
        return Capacity(None, limit, criteria, f"even the smallest step ({limit} clients) fails", above)
    if first_fail is None:
        reason = f"every step passed: at least {below[-1]} clients (no failing step bounds it)"
    else:
        reason = f"{below[-1]} clients passed, {limit} failed"
    return Capacity(below[-1], limit, criteria, reason, above)
