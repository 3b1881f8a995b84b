"""The report as titled sections of text tables, shared by the Markdown, HTML and console renderers. Pure."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from loadgen.core.repeat import EN_DASH
from loadgen.core.summary import RunSummary
from loadgen.core.untranscribed import Untranscribed
from loadgen.report.model.recovery import AffectedSession, Recovery
from loadgen.report.model.report import Report, soak_windows
from loadgen.report.model.steps import StepRow, clients_text
from loadgen.report.model.usage import StepResources

DASH = "—"


@dataclass(frozen=True)
class Table:
    """Headers and rows of strings; a two-column table with empty headers is a key/value list."""

    headers: list[str]
    rows: list[list[str]]
    title: str = ""


@dataclass(frozen=True)
class Section:
    """One part of the report: its tables, notes, and the names of the plots that belong to it."""

    title: str
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)


def _shown(value: float | None, render: Callable[[float], str]) -> str:
    return DASH if value is None or not math.isfinite(value) else render(value)


def seconds(value: float | None) -> str:
    """Seconds with millisecond digits; a dash when missing (None or NaN)."""
    return _shown(value, lambda v: f"{v:.3f}")


def percent(value: float | None, digits: int = 1) -> str:
    """A ratio as percent; a dash when missing."""
    return _shown(value, lambda v: f"{100 * v:.{digits}f} %")


def number(value: float | None, digits: int = 2) -> str:
    """A plain number; a dash when missing."""
    return _shown(value, lambda v: f"{v:.{digits}f}")


def when(unix: float | None) -> str:
    """A unix time as UTC."""
    return DASH if unix is None else time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(unix))


def untranscribed_text(u: Untranscribed | None) -> str:
    """ "3.2 s (in flight 1.0, gap 0.2, skipped 2.0)", or a dash when not measured."""
    if u is None:
        return DASH
    return f"{u.total_s:.1f} s (in flight {u.in_flight_s:.1f}, gap {u.gap_s:.1f}, skipped {u.skipped_s:.1f})"


def word_split_text(substitutions: int | None, deletions: int | None, insertions: int | None) -> str:
    """ "2 / 14 / 1" (substituted / deleted / inserted words), or a dash when not recorded."""
    if substitutions is None or deletions is None or insertions is None:
        return DASH
    return f"{substitutions} / {deletions} / {insertions}"


def verdict_label(passed: bool | None) -> str:
    """PASS / FAIL / — for a step or a run."""
    return DASH if passed is None else ("PASS" if passed else "FAIL")


def _usl_line(report: Report) -> str:
    fit = report.usl
    if fit is None:
        return "not fitted: needs goodput at 3 or more distinct client counts"
    if fit.peak_clients is None or fit.peak_throughput is None:
        shape = "no peak: goodput never turns down (kappa = 0)"
    elif fit.extrapolated:
        shape = (
            f"no peak within the measured steps (up to {clients_text(fit.largest_clients)}); the fit's "
            f"N* = {fit.peak_clients:.1f} clients is an extrapolation, not a measurement"
        )
    else:
        shape = f"goodput peaks at N* = {fit.peak_clients:.1f} clients, {fit.peak_throughput:.2f} streams"
    return f"on goodput: {shape}; {fit.parameters()}"


def _knee_line(report: Report) -> str:
    def one(value: float | None) -> str:
        return "none found" if value is None else clients_text(value)

    return f"lag p95: {one(report.knees.lag_p95)}; goodput: {one(report.knees.goodput)}"


def _repeat_rows(report: Report) -> list[list[str]]:
    """One row per repetition of a `ramp --repeat` search."""
    return [
        [
            f"run {run.repeat + 1} of {len(report.repeats)}",
            f"capacity {DASH if run.capacity.max_clients is None else run.capacity.max_clients}: "
            f"{run.capacity.reason}",
        ]
        for run in report.repeats
    ]


def verdict_table(report: Report) -> Table:
    """The answer first: verdict, capacity and why (a soak: verdict, saturation, run)."""
    cap = report.capacity
    head = [["verdict", f"{verdict_label(report.verdict.passed)}: {report.verdict.headline}"]]
    tail = [
        ["what saturated first", report.saturation.headline],
        ["run", f"{report.run.kind}, {report.run.status}"],
    ]
    if report.run.workload is not None:
        tail.append(["workload", report.run.workload.describe()])
    if report.soak_rows and not report.rows:
        return Table(["", ""], head + tail)
    first_fail = _first_fail(report)
    rows = [
        *head,
        *(_rate_rows(report) or [["max concurrent connections", _capacity_cell(report)]]),
        *_repeat_rows(report),
        ["how it was found", cap.reason],
        ["first failing step", first_fail],
        ["failing criteria", "; ".join(cap.failing_criteria) or DASH],
        ["USL fit", _usl_line(report)],
        ["knees (Kneedle)", _knee_line(report)],
        *tail,
    ]
    if cap.passed_above_failure:
        above = ", ".join(map(str, cap.passed_above_failure))
        rows.append(
            ["note", f"steps above the first failure passed ({above} clients): noisy, re-run to confirm"]
        )
    return Table(["", ""], rows)


def _rate_rows(report: Report) -> list[list[str]]:
    """Rate mode: the capacity as an arrival rate and as the streams its step produced (else none)."""
    if not any(r.rate is not None for r in report.rows):
        return []
    level = report.capacity.max_clients
    at = [r for r in report.rows if r.passed and r.clients == level and r.rate is not None]
    if not at:
        return [["max arrival rate", DASH]]
    return [
        ["max arrival rate", f"{at[-1].rate:g} sessions/s (level {level})"],
        [
            "max concurrent connections",
            f"{number(at[-1].concurrency)} (time-weighted mean streams at that rate)",
        ],
    ]


def _first_fail(report: Report) -> str:
    """The first failing step: its clients, or in rate mode its arrival rate (a level is no count)."""
    level = report.capacity.first_failing_clients
    if level is None:
        return DASH
    rates = [r.rate for r in report.rows if r.clients == level and r.rate is not None]
    return f"{rates[0]:g} sessions/s" if rates else clients_text(level)


def _capacity_cell(report: Report) -> str:
    if report.repeated is not None:
        return report.repeated.headline()
    return DASH if report.capacity.max_clients is None else str(report.capacity.max_clients)


def interval(bounds: tuple[float, float] | None) -> str:
    """A confidence interval in seconds: "0.412-0.480" (an en dash); a dash when missing."""
    return DASH if bounds is None else f"{bounds[0]:.3f}{EN_DASH}{bounds[1]:.3f}"


def _handshake_cell(r: StepRow) -> str:
    h = r.handshake
    return DASH if h is None else f"{h.p50 * 1000:.0f} / {h.p95 * 1000:.0f} / {h.max * 1000:.0f}"


def _step_cells(r: StepRow) -> list[str]:
    return [
        str(r.index),
        DASH if r.repeat is None else str(r.repeat + 1),
        DASH if r.rate is None else f"{r.rate:g}",
        str(r.clients),
        number(r.concurrency),
        r.phase,
        verdict_label(r.passed),
        seconds(r.lag_p50),
        seconds(r.lag_p95),
        interval(r.lag_p95_ci),
        seconds(r.lag_p99),
        percent(r.wer),
        word_split_text(r.substitutions, r.deletions, r.insertions),
        seconds(r.audio_untranscribed_s),
        percent(r.success_ratio),
        percent(r.error_ratio),
        percent(r.refusal_ratio),
        _handshake_cell(r),
        DASH if r.handshake_refusals is None else str(r.handshake_refusals),
        DASH if r.arrivals_dropped is None else str(r.arrivals_dropped),
        number(r.throughput),
        number(r.goodput),
        seconds(r.send_slip_p99),
        "; ".join(r.failed) or DASH,
    ]


STEP_HEADERS = [
    "step",
    "run",
    "rate (/s)",
    "clients",
    "streams",
    "phase",
    "verdict",
    "lag p50 (s)",
    "lag p95 (s)",
    "p95 95 % CI (s)",
    "lag p99 (s)",
    "WER",
    "words S / D / I",
    "untranscribed (s)",
    "success",
    "errors",
    "refused",
    "handshake p50 / p95 / max (ms)",
    "refused handshakes",
    "dropped arrivals",
    "throughput",
    "goodput",
    "slip p99 (s)",
    "failing criteria",
]
# columns shown only where some step has them: `ramp --repeat`, rate mode, records since issue 16
_OPTIONAL_STEP_COLUMNS = {
    "run": lambda r: r.repeat,
    "rate (/s)": lambda r: r.rate,
    "streams": lambda r: r.rate,  # the concurrency a rate produced (a client step's is its clients)
    "handshake p50 / p95 / max (ms)": lambda r: r.handshake,
    "refused handshakes": lambda r: r.handshake_refusals,
    "dropped arrivals": lambda r: r.arrivals_dropped,
}


def steps_table(rows: Sequence[StepRow]) -> Table:
    """One row per step in the order the steps ran (the `run` column only for `ramp --repeat`, the rate
    and the streams it produced only in rate mode, handshakes only where recorded)."""
    table = Table(STEP_HEADERS, [_step_cells(r) for r in rows])
    shown = [
        h
        for h in STEP_HEADERS
        if h not in _OPTIONAL_STEP_COLUMNS or any(_OPTIONAL_STEP_COLUMNS[h](r) is not None for r in rows)
    ]
    return _columns(table, shown)


def _columns(table: Table, headers: Sequence[str]) -> Table:
    keep = [table.headers.index(h) for h in headers]
    return Table(list(headers), [[row[i] for i in keep] for row in table.rows], table.title)


COMPACT = (
    *("step", "run", "rate (/s)", "clients", "streams", "verdict"),
    *("lag p95 (s)", "WER", "errors", "throughput", "goodput"),
)


def compact_steps_table(rows: Sequence[StepRow]) -> Table:
    """The steps table with the columns that fit a terminal."""
    full = steps_table(rows)
    return _columns(full, [h for h in COMPACT if h in full.headers])


def _replica_cell(usage: StepResources, name: str) -> str:
    r = usage.replicas.get(name)
    if r is None:
        return DASH
    mem = DASH if r.memory_bytes is None else f"{r.memory_bytes / 2**20:.0f} MiB"
    return f"{number(r.cpu_cores)} cores · {mem}"


def resources_table(rows: Sequence[StepRow], resources: dict[int, StepResources]) -> Table | None:
    """Per step: each replica's CPU and memory, GPUs, nginx connections, sessions by replica."""
    measured = [r for r in rows if r.index in resources]
    if not measured:
        return None
    names = sorted({n for r in measured for n in resources[r.index].replicas})
    headers = [
        "step",
        "clients",
        *names,
        "GPUs (util · memory)",
        "nginx active (avg/max)",
        "sessions ended by replica",
    ]
    table = []
    for row in measured:
        usage = resources[row.index]
        gpus = ", ".join(
            f"{gpu}: {number(g.util_pct, 0)} % · {number(g.fb_used_mib, 0)} MiB"
            for gpu, g in sorted(usage.gpus.items())
        )
        sessions = ", ".join(f"{k} {v:.0f}" for k, v in sorted(usage.sessions_by_replica.items()))
        nginx = f"{number(usage.nginx_active_avg, 1)} / {number(usage.nginx_active_max, 0)}"
        cells = [_replica_cell(usage, n) for n in names]
        table.append([str(row.index), str(row.clients), *cells, gpus or DASH, nginx, sessions or DASH])
    return Table(headers, table)


def totals_table(report: Report) -> Table:
    """The whole run's sessions, pooled."""
    t = report.totals
    outcomes = ", ".join(f"{k} {v}" for k, v in t.outcomes.items() if v)
    return Table(
        ["", ""],
        [
            ["sessions", f"{t.sessions} ({outcomes or 'none'})"],
            [
                "success / errors / refused",
                f"{percent(t.success_ratio)} / {percent(t.error_ratio)} / {percent(t.refusal_ratio)}",
            ],
            [
                "WER (all successful sessions)",
                f"{percent(t.wer)} ({t.word_errors}/{t.reference_words} words)",
            ],
            [
                "word errors substituted / deleted / inserted",
                word_split_text(t.substitutions, t.deletions, t.insertions),
            ],
            ["speech untranscribed (every session)", untranscribed_text(t.untranscribed)],
            [
                "transcript lag p50 / p95 / p99 (s)",
                " / ".join(
                    seconds(v) for v in (t.transcript_lag.p50, t.transcript_lag.p95, t.transcript_lag.p99)
                ),
            ],
            ["audio streamed", f"{t.audio_sent_s:.1f} s"],
            *_traffic_rows(t),
        ],
    )


def _traffic_rows(t: RunSummary) -> list[list[str]]:
    """The achieved speech ratio and the idle clients' sessions, where the run had them."""
    rows = []
    if t.speech_ratio is not None:
        rows.append(["speech ratio (planned audio, achieved)", percent(t.speech_ratio)])
    if t.idle_sessions:
        rows.append(["idle clients' sessions (not in the figures above)", str(t.idle_sessions)])
    return rows


def _share_rows(recovery: Recovery) -> list[list[str]]:
    names = sorted({*recovery.share_before, *recovery.share_after})
    return [[n, percent(recovery.share_before.get(n)), percent(recovery.share_after.get(n))] for n in names]


def _affected_cells(a: AffectedSession) -> list[str]:
    u = a.untranscribed
    deleted = DASH if a.deletions is None else f"{a.deletions} of {a.reference_words}"
    causes = (DASH,) * 3 if u is None else tuple(f"{v:.2f}" for v in (u.in_flight_s, u.gap_s, u.skipped_s))
    return [a.uid[:8], " → ".join(a.replicas) or DASH, a.outcome, str(a.reconnects), *causes, deleted]


def recovery_section(report: Report) -> Section | None:
    """Failures and recovery: only when chaos happened or a session reconnected."""
    rec = report.recovery
    if rec is None:
        return None
    origin = report.run.started_at or 0.0
    events = [
        [
            f"{float(e.get('at') or 0) - origin:.1f}",
            str(e.get("action", DASH)),
            str(e.get("target", DASH)),
            str(e.get("step", DASH)),
            str(e.get("detail", "")),
        ]
        for e in rec.chaos_events
    ]
    stats = rec.reconnect_s
    summary = [
        ["sessions affected", f"{rec.affected} of {rec.sessions} (reconnected or dropped)"],
        ["recovered", str(rec.recovered)],
        ["never recovered", str(rec.never_recovered)],
        ["reconnects", str(rec.reconnects)],
        [
            "reconnect time p50 / p95 / max (s)",
            f"{seconds(stats.p50 if stats.count else None)} / "
            f"{seconds(stats.p95 if stats.count else None)} / {seconds(stats.max if stats.count else None)}",
        ],
        [
            "audio lost",
            f"{rec.audio_lost_s:.1f} s in total, {rec.audio_lost_max_s:.1f} s at most in one session",
        ],
        ["time offline", f"{rec.offline_s:.1f} s in total"],
        ["speech untranscribed (every session)", untranscribed_text(rec.untranscribed)],
    ]
    tables = [Table(["", ""], summary)]
    if rec.affected_sessions:
        tables.append(
            Table(
                [*("session", "replicas", "outcome", "reconnects", "in flight (s)", "gap (s)", "skipped (s)"),
                 "deleted words"],
                [_affected_cells(a) for a in rec.affected_sessions],
                "affected sessions: speech untranscribed beside the words deleted",
            )
        )  # fmt: skip
    if events:
        tables.append(Table(["t (s)", "action", "target", "step", "detail"], events, "chaos events"))
    tables.append(Table(["replica", "before", "after"], _share_rows(rec), "connections per replica"))
    return Section("Failures and recovery", tables, plots=["recovery"])


def soak_section(report: Report) -> Section | None:
    """Soak windows and the drift verdict of each series."""
    if report.drift is None:
        return None
    windows = sorted(soak_windows(report.soak_rows, report.resources), key=lambda w: w.t_s)
    names = sorted({n for w in windows for n in w.memory_mib})
    rows = [
        [
            f"{w.t_s / 60:.1f}",
            str(w.clients),
            seconds(w.lag_p95),
            percent(w.wer),
            percent(w.error_ratio),
            *(f"{w.memory_mib[n]:.0f}" if n in w.memory_mib else DASH for n in names),
        ]
        for w in windows
    ]
    headers = ["minute", "clients", "lag p95 (s)", "WER", "errors", *(f"{n} (MiB)" for n in names)]
    trends = [
        [
            t.series,
            f"{t.slope_per_h:+.4g}",
            f"{t.r2:.2f}",
            f"{t.start:.4g} → {t.end:.4g}",
            "DRIFT" if t.drifting else "steady",
            t.detail,
        ]
        for t in report.drift.trends
    ]
    tables = [Table(headers, rows, "windows")]
    if trends:
        tables.append(
            Table(
                ["series", "slope per hour", "R²", "fitted start → end", "verdict", "rule"], trends, "drift"
            )
        )
    notes = [report.drift.note] if report.drift.note else []
    return Section("Soak and drift", tables, notes, plots=["soak", "memory"])


def sections(report: Report) -> list[Section]:
    """Every section in reading order: the verdict first."""
    out = [Section("Verdict", [verdict_table(report)], report.run.notes + report.warnings)]
    if report.rows:
        out.append(Section("Steps", [steps_table(report.rows)], plots=["lag", "wer", "ratios", "usl"]))
    resources = resources_table(report.rows or report.soak_rows, report.resources)
    if resources is not None:
        out.append(Section("Resources per step", [resources], plots=["cpu", "gpu", "share"]))
    elif report.rows or report.soak_rows:
        out.append(
            Section(
                "Balancer distribution", notes=["no Prometheus data: resources not shown"], plots=["share"]
            )
        )
    out += [s for s in (soak_section(report), recovery_section(report)) if s is not None]
    out.append(Section("Sessions", [totals_table(report)]))
    out.append(Section("Run", [run_table(report)]))
    return out


def run_table(report: Report) -> Table:
    """What ran: manifest facts and the thresholds."""
    run = report.run
    thresholds = ", ".join(f"{k} {v}" for k, v in run.thresholds.items()) or DASH
    return Table(
        ["", ""],
        [
            ["directory", run.path],
            ["kind / status", f"{run.kind} / {run.status}"],
            ["target", run.url or DASH],
            ["replicas", DASH if run.replicas is None else str(run.replicas)],
            ["host CPUs (for saturation)", number(run.host_cpus, 0)],
            ["started / ended", f"{when(run.started_at)} / {when(run.ended_at)}"],
            ["profile", f"{run.profile or DASH}: {thresholds}"],
        ],
    )
