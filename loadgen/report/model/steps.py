"""Step records (steps.jsonl) as report rows, and the capacity they prove. Pure.

Records were read tolerantly (`StepRecord.from_json`): a field the driver did not write is None, never an
error, so a report of an interrupted or older run still renders.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from loadgen.core.arrivals import RateCapacity, rate_capacity
from loadgen.core.goodput import TRANSCRIPT_LAG, goodput
from loadgen.core.kpi import LatencyStats
from loadgen.core.latency_hist import quantile_interval
from loadgen.core.records import StepRecord, WindowSnapshot, replica_label
from loadgen.core.search import outcome
from loadgen.core.session_result import DROPPED, ERROR, OUTCOMES, REFUSED, STOPPED, SUCCESSES
from loadgen.core.untranscribed import Untranscribed

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
    # the split of the window's word errors, its untranscribed speech (None: a record without them)
    substitutions: int | None = None
    deletions: int | None = None
    insertions: int | None = None
    audio_untranscribed_s: float | None = None
    untranscribed: Untranscribed | None = None
    goodput: float | None = None  # streams served on time and whole (core/goodput.py)
    lag_p95_ci: tuple[float, float] | None = None  # 95 % interval of the p95 lag, from the histogram
    repeat: int | None = None  # `ramp --repeat`: which repetition ran it
    rate: float | None = None  # rate mode: the step's arrivals per second
    concurrency: float | None = None  # time-weighted mean streams in the window
    handshake: LatencyStats | None = None  # connect to SERVER_READY since the step's start
    handshake_refusals: int | None = None  # handshakes refused (WAIT, HTTP rejection) since then
    arrivals_dropped: int | None = None  # rate mode: arrivals dropped at --max-concurrency in the window


@dataclass(frozen=True)
class Capacity:
    """Max concurrent connections = the largest passing step below the first failing one."""

    max_clients: int | None
    first_failing_clients: int | None
    failing_criteria: list[str]  # at the first failing step
    reason: str  # one line saying how the number was found (or why there is none)
    passed_above_failure: list[int] = field(default_factory=list)  # passing steps above the first failure
    # rate mode (`clients` is the search level): the capacity as an arrival rate and the streams it
    # produced; None for client steps
    rate: RateCapacity | None = None


def clients_text(n: float) -> str:
    """ "1 client", "4 clients"."""
    return f"{n:g} client{'' if n == 1 else 's'}"


def _ratios(window: WindowSnapshot) -> tuple[int, float | None, float | None, float | None]:
    """Sessions, success, error and refusal ratios; success is connection success (ready / attempts)
    when the window counted connects, else the successful share of the sessions that ended."""
    counts = {o: window.sessions.get(o, 0) for o in OUTCOMES}
    total = sum(counts.values())
    judged = total - counts[STOPPED]
    attempts, ready = window.connect_attempts, window.connects_ready
    connects = ready / attempts if attempts and ready is not None else None
    if not judged:
        return total, connects, None, None
    success = connects if connects is not None else sum(counts[o] for o in SUCCESSES) / judged
    return total, success, (counts[ERROR] + counts[DROPPED]) / judged, counts[REFUSED] / judged


_EMPTY = WindowSnapshot.from_json({})  # what a record cut short before its window reads as


def step_row(record: StepRecord, slo_s: float | None = None) -> StepRow:
    """A row from one steps.jsonl record (see docs/RUN_DIR.md); `slo_s` judges goodput."""
    window = record.window or _EMPTY
    criteria = record.verdict.criteria if record.verdict else ()
    lag, slip = window.transcript_lag, window.send_slip
    sessions, success, errors, refusals = _ratios(window)
    return StepRow(
        index=record.index,
        clients=record.clients,
        phase=record.phase,
        started_at=record.started_at,
        measure_from=record.measure_from,
        ended_at=record.ended_at,
        passed=record.passed,
        failed=[c.detail or c.name for c in criteria if c.passed is False],
        sessions=sessions,
        success_ratio=success,
        error_ratio=errors,
        refusal_ratio=refusals,
        lag_p50=None if lag is None else lag.p50,
        lag_p95=None if lag is None else lag.p95,
        lag_p99=None if lag is None else lag.p99,
        wer=window.wer,
        throughput=window.throughput,
        send_slip_p99=None if slip is None else slip.p99,
        active_max=None if window.active_clients is None else float(window.active_clients.max),
        replica_sessions={replica_label(k): v.sessions for k, v in window.replicas.items()},
        substitutions=window.substitutions,
        deletions=window.deletions,
        insertions=window.insertions,
        audio_untranscribed_s=window.audio_untranscribed_s,
        untranscribed=window.untranscribed,
        goodput=goodput(window, slo_s),
        lag_p95_ci=_p95_interval(window),
        repeat=record.repeat,
        rate=record.rate,
        concurrency=None if window.active_clients is None else window.active_clients.avg,
        handshake=window.handshake,
        handshake_refusals=window.refusals,
        arrivals_dropped=window.arrivals_dropped,
    )


def _p95_interval(window: WindowSnapshot) -> tuple[float, float] | None:
    encoded = (window.histograms or {}).get(TRANSCRIPT_LAG)
    return None if encoded is None else quantile_interval([encoded])


def slo_of(records: Sequence[StepRecord]) -> float | None:
    """The p95 lag limit the steps were judged against (from their criteria), if any."""
    for record in records:
        criterion = record.verdict.criterion(LAG_CRITERION) if record.verdict else None
        if criterion is not None and criterion.limit is not None:
            return criterion.limit
    return None


def find_capacity(rows: Sequence[StepRow]) -> Capacity:
    """Capacity as the search defines it (`loadgen.core.search.outcome`), with the failing criteria of
    the first failing step and any passing step above it; unjudged steps are ignored."""
    judged = sorted((r for r in rows if r.passed is not None), key=lambda r: (r.clients, r.index))
    result = outcome([(r.clients, bool(r.passed)) for r in judged])
    limit = result.first_failure
    first = next((r for r in judged if r.passed is False and r.clients == limit), None)
    above = sorted({r.clients for r in judged if r.passed and limit is not None and r.clients > limit})
    failed = first.failed if first else []
    rates = {r.clients: r.rate for r in judged if r.rate is not None}
    if not rates:
        return Capacity(result.capacity, limit, failed, result.reason, above)
    streams = {r.clients: r.concurrency for r in judged if r.passed and r.concurrency is not None}
    rate = rate_capacity([(r.clients, bool(r.passed)) for r in judged], rates.__getitem__, streams)
    return Capacity(result.capacity, limit, failed, rate.reason, above, rate)
