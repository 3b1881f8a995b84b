"""Comparing runs: A vs B for a CI gate, and scaling over runs with 1, 2, 3... replicas. Pure.

Regression: B's capacity is lower than A's by more than the tolerance (in percent of A's) and outside
the spread of the runs (B's highest repetition below A's lowest: a difference inside the spread of
`ramp --repeat` runs is no regression), or B found no capacity where A did. With no capacity in A there
is nothing to gate on: inconclusive. A run of one search has no spread: its capacity is its range.
Scaling efficiency of a run with N replicas = capacity(N) / (N · capacity(1)); without a 1-replica run,
the run with the fewest replicas is the base: (capacity(N)/N) / (capacity(B)/B).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from loadgen.core.errors import UsageError
from loadgen.core.repeat import EN_DASH
from loadgen.core.workload import Workload, differences
from loadgen.report.model.report import Report
from loadgen.report.model.tables import DASH, Table, interval, number, percent, seconds

OK, REGRESSION, INCONCLUSIVE = "ok", "regression", "inconclusive"


@dataclass(frozen=True)
class RunFigures:
    """What a comparison needs from one run's report."""

    name: str
    capacity: float | None  # the median of a `ramp --repeat` run's repetitions
    replicas: int | None
    wer: float | None
    lag_p95: dict[int, float]  # by client count
    step_wer: dict[int, float]
    cpu_cores: dict[int, float]  # all replicas together, by client count
    spread: tuple[int, int] | None = None  # the lowest and highest capacity of the repetitions
    lag_p95_ci: dict[int, tuple[float, float]] = field(default_factory=dict)  # by client count
    workload: Workload | None = None  # None: a run written before workloads were recorded

    @property
    def low(self) -> float | None:
        """The lowest capacity of the runs (the capacity, for one search)."""
        return self.capacity if self.spread is None else self.spread[0]

    @property
    def high(self) -> float | None:
        """The highest capacity of the runs (the capacity, for one search)."""
        return self.capacity if self.spread is None else self.spread[1]


def figures(name: str, report: Report) -> RunFigures:
    """The figures of one report (the last step at a client count wins)."""
    rows = sorted(report.rows, key=lambda r: r.index)
    cpu = {}
    for r in rows:
        usage = report.resources.get(r.index)
        cores = [u.cpu_cores for u in usage.replicas.values() if u.cpu_cores is not None] if usage else []
        if cores:
            cpu[r.clients] = sum(cores)
    wer = report.totals.wer
    repeated = report.repeated
    low, high = (None, None) if repeated is None else (repeated.low, repeated.high)
    return RunFigures(
        name=name,
        capacity=_stream_capacity(name, report),
        replicas=report.run.replicas,
        wer=wer if wer == wer else None,  # NaN: no scored session
        lag_p95={r.clients: r.lag_p95 for r in rows if r.lag_p95 is not None},
        step_wer={r.clients: r.wer for r in rows if r.wer is not None},
        cpu_cores=cpu,
        spread=None if low is None or high is None else (low, high),
        lag_p95_ci={r.clients: r.lag_p95_ci for r in rows if r.lag_p95_ci is not None},
        workload=report.run.workload,
    )


def _stream_capacity(name: str, report: Report) -> float | None:
    """The run's capacity in concurrent streams: of a rate-mode ramp, the concurrency its capacity step
    produced (its `clients` is only the search level)."""
    rate, repeated = report.capacity.rate, report.repeated
    if rate is None:
        return report.capacity.max_clients if repeated is None else repeated.median
    if repeated is not None:
        raise UsageError(f"{name}: a rate-mode ramp --repeat has no capacity in streams: compare one run")
    if rate.rate is not None and rate.concurrency is None:
        raise UsageError(f"{name}: its capacity step ({rate.rate:g}/s) recorded no concurrency (streams)")
    return rate.concurrency


def workload_warnings(runs: Sequence[RunFigures]) -> list[str]:
    """One line per run whose workload differs from the first run's (or is not recorded beside one
    that is): capacities of different traffic are not comparable."""
    base = runs[0]
    out = []
    for run in runs[1:]:
        if base.workload is None and run.workload is None:
            continue
        if base.workload is None or run.workload is None:
            missing = base.name if base.workload is None else run.name
            out.append(f"warning: {missing} records no workload (written before it was), the other does")
            continue
        changed = differences(base.workload, run.workload)
        if changed:
            out.append(f"warning: the workloads differ ({base.name} vs {run.name}): {'; '.join(changed)}")
    return out


@dataclass(frozen=True)
class Comparison:
    """A vs B: the capacity change and the verdict, with the figures at matching client counts."""

    a: RunFigures
    b: RunFigures
    tolerance_pct: float
    change_pct: float | None
    verdict: str
    reason: str


def compare_runs(a: RunFigures, b: RunFigures, tolerance_pct: float) -> Comparison:
    """Judge B against A."""
    if a.capacity is None:
        return Comparison(
            a, b, tolerance_pct, None, INCONCLUSIVE, f"{a.name} found no capacity to compare with"
        )
    if b.capacity is None:
        return Comparison(
            a, b, tolerance_pct, None, REGRESSION, f"{b.name} found no capacity ({a.name}: {a.capacity})"
        )
    change = 100.0 * (b.capacity - a.capacity) / a.capacity
    beyond = change < -tolerance_pct
    inside = beyond and (b.high or 0) >= (a.low or 0)
    verdict = REGRESSION if beyond and not inside else OK
    relation = "more than" if beyond else "within"
    tolerance = f"{relation} the {tolerance_pct:g} % tolerance"
    if inside:
        tolerance += f", but inside the runs' spread ({_range(a)} vs {_range(b)})"
    reason = f"capacity {a.capacity:g} -> {b.capacity:g} ({change:+.1f} %, {tolerance})"
    return Comparison(a, b, tolerance_pct, change, verdict, reason)


def _range(run: RunFigures) -> str:
    return f"{run.name} {run.low:g}{EN_DASH}{run.high:g}"


def comparison_tables(cmp: Comparison) -> list[Table]:
    """The verdict, then lag, WER and CPU at the client counts both runs measured."""
    a, b = cmp.a, cmp.b
    head = Table(
        ["", a.name, b.name],
        [
            ["max concurrent connections", _capacity(a), _capacity(b)],
            ["replicas", _int(a.replicas), _int(b.replicas)],
            ["WER (all successful sessions)", percent(a.wer), percent(b.wer)],
            ["verdict", cmp.verdict.upper(), cmp.reason],
        ],
    )
    shared = sorted({*a.lag_p95, *a.step_wer} & {*b.lag_p95, *b.step_wer})
    rows = [
        [
            str(n),
            seconds(a.lag_p95.get(n)),
            seconds(b.lag_p95.get(n)),
            interval(a.lag_p95_ci.get(n)),
            interval(b.lag_p95_ci.get(n)),
            _lag_change(a, b, n),
            percent(a.step_wer.get(n)),
            percent(b.step_wer.get(n)),
            number(a.cpu_cores.get(n)),
            number(b.cpu_cores.get(n)),
        ]
        for n in shared
    ]
    headers = [
        "clients",
        f"p95 lag {a.name} (s)",
        f"p95 lag {b.name} (s)",
        f"p95 95 % CI {a.name}",
        f"p95 95 % CI {b.name}",
        "p95 lag change",
        f"WER {a.name}",
        f"WER {b.name}",
        f"CPU cores {a.name}",
        f"CPU cores {b.name}",
    ]
    return [head, Table(headers, rows, "at matching client counts")]


def _int(value: int | None) -> str:
    return DASH if value is None else str(value)


def _count(value: float | None) -> str:
    return DASH if value is None else f"{value:g}"


def _capacity(run: RunFigures) -> str:
    return _count(run.capacity) if run.spread is None else f"{_count(run.capacity)} ({_range(run)})"


def _lag_change(a: RunFigures, b: RunFigures, clients: int) -> str:
    """B's p95 lag minus A's, or "inside the intervals" when the two 95 % intervals overlap."""
    lag_a, lag_b = a.lag_p95.get(clients), b.lag_p95.get(clients)
    if lag_a is None or lag_b is None:
        return DASH
    ci_a, ci_b = a.lag_p95_ci.get(clients), b.lag_p95_ci.get(clients)
    if ci_a is not None and ci_b is not None and ci_a[0] <= ci_b[1] and ci_b[0] <= ci_a[1]:
        return "inside the intervals"
    return f"{lag_b - lag_a:+.3f} s"


@dataclass(frozen=True)
class ScalingRow:
    """One run in the scaling view."""

    name: str
    replicas: int
    capacity: float | None
    per_replica: float | None
    efficiency: float | None


@dataclass(frozen=True)
class Scaling:
    """Capacity per replica and scaling efficiency over runs; runs without a replica count are skipped."""

    rows: list[ScalingRow]
    base: str | None
    skipped: list[str]


def scaling(runs: Sequence[RunFigures]) -> Scaling:
    """Order runs by replicas and relate each to the base (1 replica, else the fewest)."""
    placed = sorted((r for r in runs if r.replicas), key=lambda r: (r.replicas or 0, r.name))
    skipped = [r.name for r in runs if not r.replicas]
    base = placed[0] if placed and placed[0].capacity else None  # no capacity at the base: nothing to scale
    unit = base.capacity / base.replicas if base and base.capacity and base.replicas else None
    rows = []
    for run in placed:
        n = run.replicas or 1
        per = run.capacity / n if run.capacity is not None else None
        rows.append(
            ScalingRow(run.name, n, run.capacity, per, per / unit if per is not None and unit else None)
        )
    return Scaling(rows, base.name if base else None, skipped)


def scaling_table(view: Scaling) -> Table:
    """Replicas, capacity, capacity per replica, efficiency."""
    rows = [
        [r.name, str(r.replicas), _count(r.capacity), number(r.per_replica), percent(r.efficiency, 0)]
        for r in view.rows
    ]
    title = f"scaling (base: {view.base})" if view.base else "scaling (no base run with a capacity)"
    return Table(["run", "replicas", "capacity", "capacity per replica", "efficiency"], rows, title)
