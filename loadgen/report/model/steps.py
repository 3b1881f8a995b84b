"""Step records (steps.jsonl) as report rows, and the capacity they prove. Pure.

Records are read tolerantly: a field the driver did not write is None, never an error, so a report of an
interrupted or older run still renders.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from loadgen.core.search import outcome
from loadgen.core.session_result import DROPPED, ERROR, OUTCOMES, REFUSED, STOPPED, SUCCESSES

LAG_CRITERION = "p95_transcript_lag"
SOAK = "soak"
UNKNOWN_REPLICA = "(no X-Upstream)"  # connected without a balancer that names the replica


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


def clients_text(n: float) -> str:
    """ "1 client", "4 clients"."""
    return f"{n:g} client{'' if n == 1 else 's'}"


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _pct(block: Any, key: str) -> float | None:
    return _num(block.get(key)) if isinstance(block, dict) else None


def _ratios(window: dict[str, Any]) -> tuple[int, float | None, float | None, float | None]:
    """Sessions, success, error and refusal ratios; success is connection success (ready / attempts)
    when the window counted connects, else the successful share of the sessions that ended."""
    outcomes = window.get("sessions") or {}
    counts = {o: int(outcomes.get(o) or 0) for o in OUTCOMES}
    total = sum(counts.values())
    judged = total - counts[STOPPED]
    attempts, ready = _num(window.get("connect_attempts")), _num(window.get("connects_ready"))
    connects = ready / attempts if attempts and ready is not None else None
    if not judged:
        return total, connects, None, None
    success = connects if connects is not None else sum(counts[o] for o in SUCCESSES) / judged
    return total, success, (counts[ERROR] + counts[DROPPED]) / judged, counts[REFUSED] / judged


def step_row(record: dict[str, Any]) -> StepRow:
    """A row from one steps.jsonl record (see docs/RUN_DIR.md)."""
    window = record.get("window") or {}
    verdict = record.get("verdict") or {}
    criteria = [c for c in verdict.get("criteria") or [] if isinstance(c, dict)]
    lag = window.get("transcript_lag")
    sessions, success, errors, refusals = _ratios(window)
    replicas = window.get("replicas") or {}
    passed = verdict.get("passed")
    return StepRow(
        index=int(_num(record.get("index")) or 0),
        clients=int(_num(record.get("clients")) or 0),
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
        replica_sessions={
            str(k) or UNKNOWN_REPLICA: int((v or {}).get("sessions") or 0) for k, v in replicas.items()
        },
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
    """Capacity as the search defines it (`loadgen.core.search.outcome`), with the failing criteria of
    the first failing step and any passing step above it; unjudged steps are ignored."""
    judged = sorted((r for r in rows if r.passed is not None), key=lambda r: (r.clients, r.index))
    result = outcome([(r.clients, bool(r.passed)) for r in judged])
    limit = result.first_failure
    first = next((r for r in judged if r.passed is False and r.clients == limit), None)
    above = sorted({r.clients for r in judged if r.passed and limit is not None and r.clients > limit})
    return Capacity(result.capacity, limit, first.failed if first else [], result.reason, above)
