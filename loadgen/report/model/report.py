"""The report as data: verdict first, then its evidence. Pure: built from what the run directory and
Prometheus gave, rendered by `render_md`, `render_html` and `render_console`, saved as summary.json.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from loadgen.core.records import StepRecord, Verdict
from loadgen.core.repeat import RepeatedCapacity
from loadgen.core.session_result import SessionResult
from loadgen.core.summary import RunSummary, summarize
from loadgen.core.workload import Workload
from loadgen.data.run_dir import INTERRUPTED, RUNNING
from loadgen.report.model.drift import DriftReport, SoakWindow, detect_drift
from loadgen.report.model.knee import Knees, find_knees
from loadgen.report.model.recovery import Recovery, build_recovery
from loadgen.report.model.saturation import Saturation, what_saturated_first
from loadgen.report.model.steps import SOAK, Capacity, StepRow, clients_text, find_capacity, slo_of, step_row
from loadgen.report.model.usage import StepResources, resources_to_json
from loadgen.report.model.usl import UslFit, fit_usl


@dataclass(frozen=True)
class RunInputs:
    """Everything read from one run directory (and Prometheus)."""

    path: str
    manifest: dict[str, Any]
    steps: list[StepRecord]
    sessions: list[SessionResult]
    events: list[dict[str, Any]]
    resources: dict[int, StepResources] = field(default_factory=dict)
    torn: list[str] = field(default_factory=list)  # files whose last line was torn
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RunInfo:
    """Where, when and how the run ran, and whether it finished."""

    path: str
    kind: str
    status: str
    interrupted: bool
    notes: list[str]
    started_at: float | None
    ended_at: float | None
    url: str | None
    replicas: int | None
    profile: str | None
    thresholds: dict[str, Any]
    slo_s: float | None
    host_cpus: float | None
    workload: Workload | None = None  # run.json's `workload` (None: a run written before it)


@dataclass(frozen=True)
class RepeatRun:
    """One repetition of a `ramp --repeat` search: its steps' capacity."""

    repeat: int
    capacity: Capacity


@dataclass(frozen=True)
class Report:
    """The whole report."""

    run: RunInfo
    verdict: Verdict  # the run's: no criteria; `passed` decides the exit code of `loadgen report`
    capacity: Capacity
    saturation: Saturation
    usl: UslFit | None
    knees: Knees
    rows: list[StepRow]  # ramp steps, in the order they ran
    soak_rows: list[StepRow]
    drift: DriftReport | None
    recovery: Recovery | None
    resources: dict[int, StepResources]
    totals: RunSummary
    warnings: list[str]
    repeats: list[RepeatRun] = field(default_factory=list)  # `ramp --repeat`: each run, in order
    repeated: RepeatedCapacity | None = None  # and their capacities together

    def to_json_dict(self) -> dict[str, Any]:
        """summary.json: every field, NaN as null, resources by step index."""
        data = asdict(self)
        data["verdict"] = {"passed": self.verdict.passed, "headline": self.verdict.headline}
        data["resources"] = resources_to_json(self.resources)
        data["drift_flags"] = [t.series for t in self.drift.drifting] if self.drift else []
        if self.repeated is not None:
            data["repeated"] = {
                "capacities": list(self.repeated.capacities),
                "median": self.repeated.median,
                "low": self.repeated.low,
                "high": self.repeated.high,
                "headline": self.repeated.headline(),
            }
        return json_ready(data)


def json_ready(value: Any) -> Any:
    """`value` with every non-finite float (NaN, inf) as None: strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    return value


def _run_info(inputs: RunInputs) -> RunInfo:
    m = inputs.manifest
    status = str(m.get("status", RUNNING))
    interrupted = status in (RUNNING, INTERRUPTED)
    notes = []
    if status == RUNNING:
        notes.append(
            "run.json still says 'running': the driver never finished (killed?); reported as interrupted"
        )
    elif status == INTERRUPTED:
        notes.append("the run was interrupted")
    notes += [f"{name}: the last line was torn (a write cut off) and was skipped" for name in inputs.torn]
    profile = m.get("profile") or {}
    return RunInfo(
        path=inputs.path,
        kind=str(m.get("kind", "run")),
        status=INTERRUPTED if interrupted else status,
        interrupted=interrupted,
        notes=notes,
        started_at=m.get("started_at"),
        ended_at=m.get("ended_at"),
        url=m.get("url"),
        replicas=m.get("replicas"),
        profile=profile.get("name"),
        thresholds=dict(profile.get("thresholds") or {}),
        slo_s=slo_of(inputs.steps),
        host_cpus=m.get("host_cpus")
        or next((u.host_cpus for u in inputs.resources.values() if u.host_cpus), None),
        workload=Workload.from_json(m.get("workload")),
    )


def soak_windows(rows: Sequence[StepRow], resources: dict[int, StepResources]) -> list[SoakWindow]:
    """Soak rows as timed windows, with each replica's largest memory working set."""
    timed = [r for r in rows if r.measure_from is not None and r.ended_at is not None]
    if not timed:
        return []
    origin = min(r.measure_from for r in timed if r.measure_from is not None)
    windows = []
    for r in timed:
        usage = resources.get(r.index)
        replicas = usage.replicas.items() if usage else ()
        memory = {name: u.memory_bytes / 2**20 for name, u in replicas if u.memory_bytes}
        middle = ((r.measure_from or 0) + (r.ended_at or 0)) / 2 - origin
        windows.append(SoakWindow(middle, r.clients, r.lag_p95, r.wer, r.error_ratio, memory))
    return windows


def _ramp_verdict(capacity: Capacity, rows: Sequence[StepRow]) -> Verdict:
    if not rows:
        return Verdict(False, "no capacity: the run has no judged step")
    if capacity.max_clients is None:
        why = "; ".join(capacity.failing_criteria)
        return Verdict(False, f"{capacity.reason} ({why})" if why else capacity.reason)
    if capacity.rate is not None and capacity.rate.rate is not None:
        why = "; ".join(capacity.failing_criteria)
        at = capacity.rate.first_failure_rate
        tail = f"; at {at:g}/s: {why}" if at is not None and why else ""
        return Verdict(True, f"max arrival rate: {capacity.rate.rate:g}/s ({capacity.reason}{tail})")
    if capacity.first_failing_clients is None:
        return Verdict(
            True,
            f"max concurrent connections ≥ {capacity.max_clients}: no step failed (limit not reached)",
        )
    why = "; ".join(capacity.failing_criteria) or "failed"
    return Verdict(
        True,
        f"max concurrent connections = {capacity.max_clients} "
        f"(at {clients_text(capacity.first_failing_clients)}: {why})",
    )


def _soak_verdict(rows: Sequence[StepRow], drift: DriftReport) -> Verdict:
    judged = [r for r in rows if r.passed is not None]
    failed = [r for r in judged if not r.passed]
    clients = sorted({r.clients for r in rows})
    held = f"{len(judged) - len(failed)}/{len(judged)} windows passed"
    hold = f"soak at {', '.join(map(str, clients))} clients: {held}"
    drifting = ", ".join(f"{t.series} {t.change}" for t in drift.drifting)
    passed = bool(judged) and not failed and not drifting
    tail = f", drift: {drifting}" if drifting else (f", {drift.note}" if drift.note else ", no drift")
    return Verdict(passed, hold + tail)


def repeat_runs(rows: Sequence[StepRow]) -> list[RepeatRun]:
    """Each repetition's capacity, when the steps came from `ramp --repeat` (else none)."""
    repeats = sorted({r.repeat for r in rows if r.repeat is not None})
    return [RepeatRun(n, find_capacity([r for r in rows if r.repeat == n])) for n in repeats]


def _repeated_verdict(runs: Sequence[RepeatRun]) -> tuple[RepeatedCapacity, Verdict, Capacity]:
    """The runs' capacities together; the capacity shown is the run at the median (the lower one of an
    even count)."""
    repeated = RepeatedCapacity(tuple(run.capacity.max_clients for run in runs))
    found = sorted(
        (r for r in runs if r.capacity.max_clients is not None), key=lambda r: r.capacity.max_clients or 0
    )
    middle = found[(len(found) - 1) // 2].capacity if found else runs[0].capacity
    return repeated, Verdict(repeated.median is not None, repeated.headline()), middle


def build_report(inputs: RunInputs) -> Report:
    """Verdict, capacity, USL, knees, saturation, drift and recovery from one run's inputs."""
    slo = slo_of(inputs.steps)
    all_rows = sorted((step_row(s, slo) for s in inputs.steps), key=lambda r: r.index)
    rows = [r for r in all_rows if r.phase != SOAK]
    soak_rows = [r for r in all_rows if r.phase == SOAK]
    info = _run_info(inputs)
    capacity = find_capacity(rows)
    runs = repeat_runs(rows)
    repeated = None
    drift = detect_drift(soak_windows(soak_rows, inputs.resources)) if soak_rows else None
    if drift is not None and (info.kind == SOAK or not rows):
        verdict = _soak_verdict(soak_rows, drift)
    elif len(runs) > 1:
        repeated, verdict, capacity = _repeated_verdict(runs)
    else:
        verdict = _ramp_verdict(capacity, rows)
    if info.interrupted:
        verdict = Verdict(verdict.passed, verdict.headline + " (run interrupted)")
    clients = [float(r.clients) for r in rows]
    goodput = [r.goodput for r in rows]
    return Report(
        run=info,
        verdict=verdict,
        capacity=capacity,
        saturation=what_saturated_first(rows or soak_rows, inputs.resources, info.host_cpus),
        usl=fit_usl(clients, [math.nan if g is None else g for g in goodput]),
        knees=find_knees(clients, [r.lag_p95 for r in rows], goodput),
        rows=rows,
        soak_rows=soak_rows,
        drift=drift,
        recovery=build_recovery(inputs.sessions, inputs.events),
        resources=inputs.resources,
        totals=summarize(inputs.sessions),
        warnings=list(inputs.warnings),
        repeats=runs if repeated is not None else [],
        repeated=repeated,
    )
