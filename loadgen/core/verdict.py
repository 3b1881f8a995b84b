"""The verdict of one step (or soak window): thresholds applied to a `window` object. Pure.

Each criterion names what it measured, its value and limit, and passes, fails, or has no data (`None`);
a criterion without data never fails a step. The step passes when no criterion failed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields

from loadgen.core.kpi import LatencyStats
from loadgen.core.records import Criterion, Verdict, WindowSnapshot
from loadgen.core.session_result import DROPPED, ERROR, REFUSED, STOPPED

ARRIVALS_DROPPED = "arrivals_dropped"


@dataclass(frozen=True)
class Thresholds:
    """What a step must meet (ratios in 0..1, times in seconds)."""

    slo_p95_lag_s: float = 0.5
    min_connection_success: float = 0.99
    max_error_ratio: float = 0.01
    max_refusals: int = 0
    wer_tolerance: float = 0.02  # allowed WER above the 1-client baseline (absolute)
    max_send_slip_p99_s: float = 0.05  # above it the generator, not the server, is late

    def to_json_dict(self) -> dict[str, float]:
        """A JSON-ready dict (the field names are the keys of a profile)."""
        return asdict(self)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """Every threshold's name."""
        return tuple(f.name for f in fields(cls))


def _at_most(
    name: str, value: float | None, limit: float, text: Callable[[float], str], what: str
) -> Criterion:
    if value is None:
        return Criterion(name, None, limit, None, f"{what}: no data")
    ok = value <= limit
    return Criterion(name, value, limit, ok, f"{what} {text(value)} {'<=' if ok else '>'} {text(limit)}")


def _at_least(name: str, value: float | None, limit: float, what: str) -> Criterion:
    if value is None:
        return Criterion(name, None, limit, None, f"{what}: no data")
    ok = value >= limit
    return Criterion(name, value, limit, ok, f"{what} {_pct(value)} {'>=' if ok else '<'} {_pct(limit)}")


def _pct(value: float) -> str:
    return f"{value * 100:.1f} %"


def _count(value: float) -> str:
    return f"{value:.0f}"


def _secs(value: float) -> str:
    return f"{value:.2f} s"


def _transcripts(window: WindowSnapshot) -> Criterion:
    count = 0 if window.transcript_lag is None else window.transcript_lag.count
    if window.active_clients is None or window.active_clients.max == 0:
        return Criterion("transcripts", count, 1, None, "no stream was active in the window")
    ok = count > 0
    detail = f"{count} transcript updates" if ok else "streams were active but no transcript arrived"
    return Criterion("transcripts", count, 1, ok, detail)


def _ratios(window: WindowSnapshot) -> tuple[float | None, float | None]:
    """(connection success, error ratio) of the window; None where nothing was counted."""
    attempts, ready = window.connect_attempts, window.connects_ready
    sessions = window.sessions
    judged = sum(sessions.values()) - sessions.get(STOPPED, 0)
    errors = sessions.get(ERROR, 0) + sessions.get(DROPPED, 0)
    success = ready / attempts if attempts and ready is not None else None
    return success, (errors / judged if judged else None)


def _p95(block: LatencyStats | None) -> float | None:
    return None if block is None else block.p95


def _p99(block: LatencyStats | None) -> float | None:
    return None if block is None else block.p99


def judge(window: WindowSnapshot, thresholds: Thresholds, baseline_wer: float | None) -> Verdict:
    """Judge one window; `baseline_wer` is the 1-client WER (None: the WER criterion has no data)."""
    t = thresholds
    success, errors = _ratios(window)
    refusals = window.sessions.get(REFUSED, 0)
    wer = window.wer
    if wer is None or baseline_wer is None:
        wer_check = Criterion("wer", wer, None, None, "WER: no data" if wer is None else "WER: no baseline")
    else:
        wer_check = _at_most("wer", wer, baseline_wer + t.wer_tolerance, _pct, "WER (baseline + tolerance)")
    # rate mode: an arrival dropped at --max-concurrency means the offered rate was not served
    drops = window.arrivals_dropped
    dropped = () if drops is None else (_at_most(ARRIVALS_DROPPED, drops, 0, _count, "arrivals dropped"),)
    return Verdict.of(
        (
            _at_most(
                "p95_transcript_lag",
                _p95(window.transcript_lag),
                t.slo_p95_lag_s,
                _secs,
                "p95 transcript lag",
            ),
            _transcripts(window),
            _at_least("connection_success", success, t.min_connection_success, "connection success"),
            _at_most("error_ratio", errors, t.max_error_ratio, _pct, "error ratio"),
            _at_most("refusals", refusals, t.max_refusals, _count, "refusals"),
            wer_check,
            _slip(_p99(window.send_slip), t.max_send_slip_p99_s),
            *dropped,
        )
    )


def _slip(p99: float | None, limit: float) -> Criterion:
    """Send slip p99: above the limit the load generator itself is late, and the step proves nothing."""
    check = _at_most("send_slip_p99", p99, limit, _secs, "send slip p99")
    if check.passed is False:
        return Criterion(check.name, check.value, limit, False, f"generator saturated: {check.detail}")
    return check
