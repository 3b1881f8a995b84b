"""Readable tables of a run's KPIs (rich). Builds renderables; printing is the caller's business."""

from __future__ import annotations

import math

from rich.console import Group
from rich.table import Table

from loadgen.core.kpi import LatencyStats
from loadgen.core.summary import RunSummary

_LATENCIES = (
    ("transcript lag", "transcript_lag"),
    ("finalization lag", "finalization_lag"),
    ("first text", "first_text"),
    ("drain", "drain"),
    ("connect", "connect"),
    ("server ready", "server_ready"),
    ("send slip", "send_slip"),
)


def _s(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.3f}"


def _pct(value: float) -> str:
    return "-" if math.isnan(value) else f"{value * 100:.1f} %"


def latency_table(summary: RunSummary) -> Table:
    """One row per latency KPI: samples, avg, p50, p95, p99, max (seconds)."""
    table = Table(title="Latency (seconds)", title_justify="left")
    for column in ("KPI", "samples", "avg", "p50", "p95", "p99", "max"):
        table.add_column(column, justify="left" if column == "KPI" else "right")
    for label, attr in _LATENCIES:
        stats: LatencyStats = getattr(summary, attr)
        table.add_row(
            label, str(stats.count), *(_s(v) for v in (stats.avg, stats.p50, stats.p95, stats.p99, stats.max))
        )
    return table


def outcome_table(summary: RunSummary, peak_streams: int) -> Table:
    """Sessions, outcomes, success/error/refusal ratios, WER."""
    table = Table(title="Sessions and accuracy", title_justify="left", show_header=False)
    table.add_column("KPI")
    table.add_column("value", justify="right")
    table.add_row("sessions", str(summary.sessions))
    table.add_row("peak concurrent streams", str(peak_streams))
    table.add_row("outcomes", ", ".join(f"{k} {v}" for k, v in summary.outcomes.items()))
    if summary.error_kinds:
        table.add_row("error kinds", ", ".join(f"{k} {v}" for k, v in sorted(summary.error_kinds.items())))
    table.add_row("success ratio", _pct(summary.success_ratio))
    table.add_row("error ratio", _pct(summary.error_ratio))
    table.add_row("refusal ratio", _pct(summary.refusal_ratio))
    table.add_row(
        "WER (corpus)", f"{_pct(summary.wer)}  ({summary.word_errors}/{summary.reference_words} words)"
    )
    table.add_row(
        "word errors",
        f"{summary.substitutions} substituted, {summary.deletions} deleted, {summary.insertions} inserted",
    )
    table.add_row("unfinalized segments", str(summary.unfinalized_segments))
    table.add_row("audio streamed", f"{summary.audio_sent_s:.1f} s")
    u = summary.untranscribed
    table.add_row(
        "speech untranscribed",
        f"{summary.audio_untranscribed_s:.1f} s  (in flight {u.in_flight_s:.1f}, gap {u.gap_s:.1f},"
        f" skipped {u.skipped_s:.1f})",
    )
    if summary.speech_ratio is not None:
        table.add_row("speech ratio (achieved)", _pct(summary.speech_ratio))
    if summary.idle_sessions:
        table.add_row("idle clients' sessions", f"{summary.idle_sessions} (not in the figures above)")
    return table


def replica_table(summary: RunSummary) -> Table | None:
    """The balancer's distribution: sessions and audio seconds per serving replica."""
    if not summary.replicas:
        return None
    total_sessions = sum(r.sessions for r in summary.replicas.values()) or 1
    table = Table(title="Distribution over replicas", title_justify="left")
    for column in ("replica", "sessions", "share", "audio s"):
        table.add_column(column, justify="left" if column == "replica" else "right")
    for name, share in summary.replicas.items():
        table.add_row(
            name, str(share.sessions), _pct(share.sessions / total_sessions), f"{share.audio_s:.1f}"
        )
    return table


def summary_view(summary: RunSummary, peak_streams: int) -> Group:
    """All tables of a run, in reading order."""
    parts: list[Table] = [outcome_table(summary, peak_streams), latency_table(summary)]
    replicas = replica_table(summary)
    if replicas is not None:
        parts.append(replicas)
    return Group(*parts)
