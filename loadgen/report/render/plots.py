"""The report's plots as PNG bytes (matplotlib, Agg, no global pyplot state). Each returns None when it
has nothing to draw."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from loadgen.report.model.drift import SoakWindow
from loadgen.report.model.knee import Knees
from loadgen.report.model.recovery import Recovery
from loadgen.report.model.steps import StepRow
from loadgen.report.model.sweep import ConfigResult
from loadgen.report.model.usage import StepResources
from loadgen.report.model.usl import UslFit, usl_throughput

SIZE = (7.2, 3.4)
DPI = 110
FAIL = "#c62828"
USL_REACH = 1.5


def _figure() -> tuple[Figure, Axes]:
    fig = Figure(figsize=SIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.grid(True, alpha=0.3)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return fig, ax


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _by_clients(rows: Sequence[StepRow]) -> list[StepRow]:
    return sorted(rows, key=lambda r: (r.clients, r.index))


def _series(rows: Sequence[StepRow], attr: str) -> tuple[list[int], list[float]]:
    pairs = [(r.clients, getattr(r, attr)) for r in rows if getattr(r, attr) is not None]
    return [p[0] for p in pairs], [float(p[1]) for p in pairs]


def _mark_failures(ax: Axes, rows: Sequence[StepRow], attr: str) -> None:
    xs, ys = _series([r for r in rows if r.passed is False], attr)
    if xs:
        ax.scatter(xs, ys, marker="x", s=60, color=FAIL, zorder=5, label="failing step")


def lag_plot(rows: Sequence[StepRow], slo_s: float | None, capacity: int | None) -> bytes | None:
    """Transcript lag p50/p95/p99 vs clients, with the SLO line, the capacity and failing steps marked."""
    rows = _by_clients(rows)
    if not any(r.lag_p95 is not None for r in rows):
        return None
    fig, ax = _figure()
    for attr, label in (("lag_p50", "p50"), ("lag_p95", "p95"), ("lag_p99", "p99")):
        ax.plot(*_series(rows, attr), marker="o", label=label)
    if slo_s is not None:
        ax.axhline(slo_s, color=FAIL, linestyle="--", label=f"SLO p95 ≤ {slo_s:g} s")
    if capacity is not None:
        ax.axvline(capacity, color="#2e7d32", linestyle=":", label=f"capacity {capacity}")
    _mark_failures(ax, rows, "lag_p95")
    ax.set(xlabel="concurrent clients", ylabel="transcript lag (s)", title="Transcript lag vs clients")
    ax.legend(fontsize=8)
    return _png(fig)


def wer_plot(rows: Sequence[StepRow]) -> bytes | None:
    """WER vs clients."""
    xs, ys = _series(_by_clients(rows), "wer")
    if not xs:
        return None
    fig, ax = _figure()
    ax.plot(xs, [100 * y for y in ys], marker="o", color="#6a1b9a")
    ax.set(xlabel="concurrent clients", ylabel="WER (%)", title="Word error rate vs clients", ylim=(0, None))
    return _png(fig)


def ratios_plot(rows: Sequence[StepRow]) -> bytes | None:
    """Success, error and refusal ratios vs clients."""
    rows = _by_clients(rows)
    if not any(r.success_ratio is not None for r in rows):
        return None
    fig, ax = _figure()
    for attr, label, color in (
        ("success_ratio", "success", "#2e7d32"),
        ("error_ratio", "errors", FAIL),
        ("refusal_ratio", "refused", "#ef6c00"),
    ):
        xs, ys = _series(rows, attr)
        ax.plot(xs, [100 * y for y in ys], marker="o", label=label, color=color)
    ax.set(xlabel="concurrent clients", ylabel="% of sessions", title="Session outcomes vs clients")
    ax.set_ylim(-3, 103)
    ax.legend(fontsize=8)
    return _png(fig)


def usl_plot(rows: Sequence[StepRow], fit: UslFit | None, knees: Knees) -> bytes | None:
    """Measured goodput beside throughput, the USL curve fitted to goodput and its peak, the knees."""
    by_clients = _by_clients(rows)
    xs, ys = _series(by_clients, "goodput")
    if not xs:
        return None
    fig, ax = _figure()
    tx, ty = _series(by_clients, "throughput")
    ax.scatter(tx, ty, color="#9e9e9e", marker="x", zorder=3, label="throughput (frontier advance)")
    ax.scatter(xs, ys, color="#1565c0", zorder=4, label="goodput (on time and whole)")
    if fit is not None:
        top = max(xs) * USL_REACH  # the fit is drawn a little past the data, never far into extrapolation
        n = np.linspace(1, max(top, 2), 200)
        label = f"USL fit ({fit.parameters()})"
        ax.plot(n, usl_throughput(n, fit.lam, fit.sigma, fit.kappa), color="#455a64", label=label)
        peak = fit.peak_clients
        if peak is not None and peak <= top:
            ax.axvline(peak, color="#455a64", linestyle=":", label=f"N* = {peak:.1f}")
        elif peak is not None:
            ax.plot([], [], " ", label=f"N* = {peak:.1f}: extrapolated, beyond the measured steps")
    for knee, label, color in (
        (knees.goodput, "goodput knee", "#ef6c00"),
        (knees.lag_p95, "lag knee", FAIL),
    ):
        if knee is not None:
            ax.axvline(knee, color=color, linestyle="--", alpha=0.7, label=f"{label} {knee:g}")
    ax.set(
        xlabel="concurrent clients",
        ylabel="real-time streams served",
        title="Goodput, throughput and the USL",
    )
    ax.legend(fontsize=7)
    return _png(fig)


def _resource_lines(
    rows: Sequence[StepRow],
    resources: dict[int, StepResources],
    values: Callable[[StepResources], dict[str, float | None]],
    by_time: bool,
) -> dict[str, tuple[list[float], list[float]]]:
    """name -> (x, y): x is the client count, or minutes into the run for a soak (`by_time`)."""
    starts = [r.measure_from for r in rows if r.measure_from is not None]
    origin = min(starts) if starts else 0.0
    ordered = sorted(rows, key=lambda r: r.index) if by_time else _by_clients(rows)
    lines: dict[str, tuple[list[float], list[float]]] = {}
    for row in ordered:
        usage = resources.get(row.index)
        x = ((row.measure_from or origin) - origin) / 60 if by_time else float(row.clients)
        for name, number in values(usage).items() if usage else ():
            if number is not None:
                xs, ys = lines.setdefault(name, ([], []))
                xs.append(x)
                ys.append(number)
    return lines


def _usage_plot(
    lines: dict[str, tuple[list[float], list[float]]],
    by_time: bool,
    title: str,
    ylabel: str,
    prefix: str = "",
) -> tuple[Figure, Axes] | None:
    if not lines:
        return None
    fig, ax = _figure()
    for name, (xs, ys) in sorted(lines.items()):
        ax.plot(xs, ys, marker="o", label=f"{prefix}{name}")
    xlabel = "minutes into the soak" if by_time else "concurrent clients"
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    return fig, ax


def cpu_plot(
    rows: Sequence[StepRow], resources: dict[int, StepResources], host_cpus: float | None, by_time: bool
) -> bytes | None:
    """CPU cores used by each replica vs clients, or over a soak (and the host's cores when known)."""
    values = _resource_lines(
        rows, resources, lambda u: {n: r.cpu_cores for n, r in u.replicas.items()}, by_time
    )
    made = _usage_plot(values, by_time, "CPU per replica", "CPU cores")
    if made is None:
        return None
    fig, ax = made
    totals: dict[float, float] = {}
    for xs, ys in values.values():
        for x, y in zip(xs, ys, strict=True):
            totals[x] = totals.get(x, 0.0) + y
    if len(values) > 1:
        points = sorted(totals.items())
        ax.plot(
            [p[0] for p in points],
            [p[1] for p in points],
            color="black",
            linestyle="--",
            label="all replicas",
        )
    if host_cpus:
        ax.axhline(host_cpus, color=FAIL, linestyle="--", label=f"host: {host_cpus:g} cores")
    ax.set_ylim(0, None)
    ax.legend(fontsize=8)
    return _png(fig)


def gpu_plot(rows: Sequence[StepRow], resources: dict[int, StepResources], by_time: bool) -> bytes | None:
    """GPU utilisation of each GPU vs clients, or over a soak."""
    values = _resource_lines(rows, resources, lambda u: {g: v.util_pct for g, v in u.gpus.items()}, by_time)
    made = _usage_plot(values, by_time, "GPU utilisation", "utilisation (%)", prefix="GPU ")
    if made is None:
        return None
    fig, ax = made
    ax.set_ylim(0, 105)
    ax.legend(fontsize=8)
    return _png(fig)


def share_plot(rows: Sequence[StepRow]) -> bytes | None:
    """Each replica's share of the sessions of each step (stacked bars)."""
    by_window = len({r.clients for r in rows}) < len(rows)  # a soak: one client count, many windows
    ordered = sorted(rows, key=lambda r: r.index) if by_window else _by_clients(rows)
    rows = [r for r in ordered if sum(r.replica_sessions.values())]
    if not rows:
        return None
    replicas = sorted({name for r in rows for name in r.replica_sessions})
    fig, ax = _figure()
    bottom = np.zeros(len(rows))
    labels = [f"#{r.index}" if by_window else str(r.clients) for r in rows]
    for name in replicas:
        share = np.array(
            [100 * r.replica_sessions.get(name, 0) / sum(r.replica_sessions.values()) for r in rows]
        )
        ax.bar(np.arange(len(rows)), share, bottom=bottom, label=name)
        bottom += share
    ax.set_xticks(np.arange(len(rows)), labels)
    xlabel = "window" if by_window else "concurrent clients (step)"
    ax.set(xlabel=xlabel, ylabel="% of sessions", title="Session share per replica")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _png(fig)


def soak_plot(windows: Sequence[SoakWindow]) -> bytes | None:
    """Lag p95 and WER over a soak's windows."""
    pts = [(w.t_s / 60, w.lag_p95, w.wer) for w in sorted(windows, key=lambda w: w.t_s)]
    if not pts:
        return None
    fig, ax = _figure()
    ax.plot(
        [p[0] for p in pts if p[1] is not None],
        [p[1] for p in pts if p[1] is not None],
        marker="o",
        label="lag p95 (s)",
    )
    wer = ax.twinx()
    wer.plot(
        [p[0] for p in pts if p[2] is not None],
        [100 * p[2] for p in pts if p[2] is not None],
        marker="s",
        color="#6a1b9a",
        label="WER (%)",
    )
    ax.set(xlabel="minutes into the soak", ylabel="transcript lag p95 (s)", title="Soak: lag and WER")
    wer.set_ylabel("WER (%)")
    wer.set_ylim(0, None)
    fig.legend(fontsize=8, loc="upper left")
    return _png(fig)


def memory_plot(windows: Sequence[SoakWindow]) -> bytes | None:
    """Each replica's largest working set per soak window."""
    names = sorted({n for w in windows for n in w.memory_mib})
    if not names:
        return None
    fig, ax = _figure()
    ordered = sorted(windows, key=lambda w: w.t_s)
    for name in names:
        pts = [(w.t_s / 60, w.memory_mib[name]) for w in ordered if name in w.memory_mib]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=name)
    ax.set(xlabel="minutes into the soak", ylabel="working set (MiB)", title="Soak: memory per replica")
    ax.legend(fontsize=8)
    return _png(fig)


def recovery_plot(recovery: Recovery) -> bytes | None:
    """Each replica's share of connections before and after the first chaos event."""
    names = sorted({*recovery.share_before, *recovery.share_after})
    if not names:
        return None
    fig, ax = _figure()
    x = np.arange(len(names))
    ax.bar(x - 0.2, [100 * recovery.share_before.get(n, 0) for n in names], 0.4, label="before")
    ax.bar(x + 0.2, [100 * recovery.share_after.get(n, 0) for n in names], 0.4, label="after")
    ax.set_xticks(x, names, fontsize=8)
    ax.set(ylabel="% of connections", title="Connections per replica before and after the fault")
    ax.legend(fontsize=8)
    return _png(fig)


def capacity_plot(configs: Sequence[ConfigResult], best: str | None) -> bytes | None:
    """Capacity per configuration: a bar at the median, whiskers over the runs' range, the best in green."""
    shown = [c for c in configs if c.capacity is not None]
    if not shown:
        return None
    fig, ax = _figure()
    x = np.arange(len(shown))
    medians = np.array([c.capacity or 0.0 for c in shown])
    below = medians - np.array(
        [c.low if c.low is not None else m for c, m in zip(shown, medians, strict=True)]
    )
    above = (
        np.array([c.high if c.high is not None else m for c, m in zip(shown, medians, strict=True)]) - medians
    )
    colors = ["#2e7d32" if c.id == best else "#1565c0" for c in shown]
    ax.bar(x, medians, color=colors, yerr=[below, above], capsize=6, ecolor="black")
    ax.set_xticks(x, [c.id for c in shown], rotation=30, ha="right", fontsize=8)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(ylabel="concurrent streams", title="Capacity per configuration (median, range of the runs)")
    return _png(fig)
