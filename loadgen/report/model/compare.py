"""Comparing runs: A vs B for a CI gate, and scaling over runs with 1, 2, 3... replicas. Pure.

Regression: B's capacity is lower than A's by more than the tolerance (in percent of A's), or B found no
capacity where A did. With no capacity in A there is nothing to gate on: inconclusive.
Scaling efficiency of a run with N replicas = capacity(N) / (N · capacity(1)); without a 1-replica run,
the run with the fewest replicas is the base: (capacity(N)/N) / (capacity(B)/B).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from loadgen.report.model.report import Report
from loadgen.report.model.tables import DASH, Table, number, percent, seconds

OK, REGRESSION, INCONCLUSIVE = "ok", "regression", "inconclusive"


@dataclass(frozen=True)
class RunFigures:
    """What a comparison needs from one run's report."""

    name: str
    capacity: int | None
    replicas: int | None
    wer: float | None
    lag_p95: dict[int, float]  # by client count
    step_wer: dict[int, float]
    cpu_cores: dict[int, float]  # all replicas together, by client count


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
    return RunFigures(
        name=name,
        capacity=report.capacity.max_clients,
        replicas=report.run.replicas,
        wer=wer if wer == wer else None,  # NaN: no scored session
        lag_p95={r.clients: r.lag_p95 for r in rows if r.lag_p95 is not None},
        step_wer={r.clients: r.wer for r in rows if r.wer is not None},
        cpu_cores=cpu,
    )


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
    regressed = change < -tolerance_pct
    verdict = REGRESSION if regressed else OK
    relation = "more than" if regressed else "within"
    tolerance = f"{relation} the {tolerance_pct:g} % tolerance"
    reason = f"capacity {a.capacity} -> {b.capacity} ({change:+.1f} %, {tolerance})"
    return Comparison(a, b, tolerance_pct, change, verdict, reason)


def comparison_tables(cmp: Comparison) -> list[Table]:
    """The verdict, then lag, WER and CPU at the client counts both runs measured."""
    a, b = cmp.a, cmp.b
    head = Table(
        ["", a.name, b.name],
        [
            ["max concurrent connections", _int(a.capacity), _int(b.capacity)],
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
        f"WER {a.name}",
        f"WER {b.name}",
        f"CPU cores {a.name}",
        f"CPU cores {b.name}",
    ]
    return [head, Table(headers, rows, "at matching client counts")]


def _int(value: int | None) -> str:
    return DASH if value is None else str(value)


@dataclass(frozen=True)
class ScalingRow:
    """One run in the scaling view."""

    name: str
    replicas: int
    capacity: int | None
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
        [r.name, str(r.replicas), _int(r.capacity), number(r.per_replica), percent(r.efficiency, 0)]
        for r in view.rows
    ]
    title = f"scaling (base: {view.base})" if view.base else "scaling (no base run with a capacity)"
    return Table(["run", "replicas", "capacity", "capacity per replica", "efficiency"], rows, title)
