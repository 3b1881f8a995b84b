"""`loadgen plan`: how many replicas, and hosts or GPUs, carry X concurrent streams at the SLO. Pure.

The measured points are (replicas, capacity): a ramp run's capacity with the replicas of its run.json,
or a sweep configuration's. Per replica count the median capacity is used. The scaling model follows
from how many distinct replica counts were measured:

- one count n: linear, capacity(N) = N * c(n)/n (no contention between replicas: assumed, not measured);
- two counts: Amdahl's law through both points (the USL with kappa = 0): lambda = per-replica capacity and the
  contention sigma solve c = lambda*n / (1 + sigma*(n - 1)) exactly;
- three or more: the USL fitted by `usl.fit_usl` to capacity vs replicas.

N+1: the answer N is the fewest replicas with capacity(N - 1) >= X*(1 + headroom) and capacity(N) too, so
losing one replica still holds the SLO. Hosts (or GPUs) = ceil(N / replicas per host), replicas per host
being the most that one measured run ran together unless given.

Where more replicas on one host do not help (the model never reaches the requirement, or it peaks at or
below the largest count measured and the answer lies beyond it), the answer is H hosts of the best measured
count k, hosts adding up linearly (not measured): the fewest H with (H - 1)*c(k) + c(k - 1) >= required.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loadgen.core.matrix import OMP_CORES
from loadgen.report.model.usl import fit_usl

LINEAR, AMDAHL, USL = "linear", "amdahl", "usl"
_EPS = 1e-9  # relative slack when a capacity equals the requirement to the last bit
_MAX_REPLICAS = 1_000_000  # a plan beyond this is no plan
_FIT_NOISE = 1e-9  # a fitted sigma or kappa below this is the optimiser's 0 (kappa 1e-15 peaks at 3e7)


class PlanError(ValueError):
    """The inputs hold no usable (replicas, capacity) point, or the fit failed: one line saying why."""


@dataclass(frozen=True)
class PlanPoint:
    """One measurement: `replicas` together held `capacity` streams at the SLO."""

    source: str
    replicas: int
    capacity: float


@dataclass(frozen=True)
class ScalingModel:
    """capacity(N) = lambda*N / (1 + sigma*(N - 1) + kappa*N(N - 1)); linear is sigma = kappa = 0."""

    kind: str
    lam: float
    sigma: float = 0.0
    kappa: float = 0.0
    r2: float | None = None

    def capacity(self, replicas: int) -> float:
        """Streams that `replicas` replicas carry at the SLO (0 for none)."""
        n = replicas
        return self.lam * n / (1 + self.sigma * (n - 1) + self.kappa * n * (n - 1)) if n > 0 else 0.0

    def efficiency(self, replicas: int) -> float:
        """capacity(N) / (N * lambda): 1 when every replica adds a whole replica's capacity."""
        return self.capacity(replicas) / (replicas * self.lam)

    def peak(self) -> tuple[float, int | None]:
        """The most streams the model reaches and at how many replicas (None: approached, never reached;
        infinite for linear scaling)."""
        if self.kappa > 0:
            top = math.sqrt((1 - self.sigma) / self.kappa)
            best = max((max(1, math.floor(top)), max(1, math.ceil(top))), key=self.capacity)
            return self.capacity(best), best
        if self.sigma >= 1:
            return self.lam, 1  # flat: one replica already carries all that more replicas do
        if self.sigma > 0:
            return self.lam / self.sigma, None
        return math.inf, None


@dataclass(frozen=True)
class Plan:
    """The answer with what it assumed: `scale_out` when it is hosts of the best measured replica count,
    added up linearly, because more replicas on one host do not reach the requirement."""

    target_streams: int
    headroom_pct: float
    required_streams: float  # X * (1 + headroom)
    replicas: int
    hosts: int
    replicas_per_host: int
    capacity: float  # streams the answer carries
    capacity_one_replica_lost: float
    scale_out: bool
    model: ScalingModel
    points: tuple[PlanPoint, ...]  # the median per replica count, ordered by replicas
    largest_measured: int
    assumptions: tuple[str, ...]
    reason: str

    @property
    def per_replica_capacity(self) -> float:
        """lambda: streams one replica carries at the SLO."""
        return self.model.lam

    @property
    def efficiency(self) -> float:
        """Scaling efficiency of the answer: its capacity over replicas x lambda."""
        return self.capacity / (self.replicas * self.model.lam)

    @property
    def extrapolation_factor(self) -> float:
        """The answer's replicas over the largest replica count measured."""
        return self.replicas / self.largest_measured

    @property
    def extrapolated(self) -> bool:
        """The answer lies beyond the largest replica count measured, or adds up hosts (never measured)."""
        return self.replicas > self.largest_measured or (self.scale_out and self.hosts > 1)

    def to_json(self, inputs: Sequence[str]) -> dict[str, Any]:
        """The `--json` object (docs/PLAN.md)."""
        peak, peak_at = self.model.peak()
        return {
            "target_streams": self.target_streams,
            "headroom_pct": self.headroom_pct,
            "required_streams": self.required_streams,
            "replicas": self.replicas,
            "hosts": self.hosts,
            "replicas_per_host": self.replicas_per_host,
            "scale_out": self.scale_out,
            "per_replica_capacity": self.per_replica_capacity,
            "efficiency": self.efficiency,
            "capacity": self.capacity,
            "capacity_one_replica_lost": self.capacity_one_replica_lost,
            "max_streams": None if math.isinf(peak) else peak,
            "max_streams_at_replicas": peak_at,
            "model": {
                "kind": self.model.kind,
                "lambda": self.model.lam,
                "sigma": self.model.sigma,
                "kappa": self.model.kappa,
                "r2": self.model.r2,
            },
            "measured": [
                {"replicas": p.replicas, "capacity": p.capacity, "source": p.source} for p in self.points
            ],
            "largest_measured_replicas": self.largest_measured,
            "extrapolated": self.extrapolated,
            "extrapolation_factor": self.extrapolation_factor,
            "assumptions": list(self.assumptions),
            "reason": self.reason,
            "inputs": list(inputs),
        }


def per_count_medians(points: Sequence[PlanPoint]) -> tuple[PlanPoint, ...]:
    """One point per replica count: the median capacity of its measurements, sources joined."""
    counts = sorted({p.replicas for p in points})
    merged = []
    for n in counts:
        same = [p for p in points if p.replicas == n]
        sources = ", ".join(p.source for p in same)
        merged.append(PlanPoint(sources, n, float(statistics.median(p.capacity for p in same))))
    return tuple(merged)


def scaling_model(points: Sequence[PlanPoint]) -> tuple[ScalingModel, str]:
    """The model of `points` (one per replica count) and the sentence saying which and why."""
    counts = ", ".join(str(p.replicas) for p in points)
    if len(points) == 1:
        (p,) = points
        model = ScalingModel(LINEAR, p.capacity / p.replicas)
        return model, (
            f"linear scaling: one replica count measured ({counts}), so capacity(N) = N x {model.lam:g}"
            " streams; contention between replicas is assumed away, not measured (measure 2 or more"
            " replica counts: a sweep or `compare --scaling` runs)"
        )
    if len(points) == 2:
        model, case = _amdahl(points[0], points[1])
        return model, (
            f"two replica counts measured ({counts}): Amdahl's law through both (USL with kappa = 0):"
            f" lambda = {model.lam:.3g}, sigma = {model.sigma:.3g}, {case}; no coherency cost assumed (a"
            " third count would fit it)"
        )
    fit = fit_usl([p.replicas for p in points], [p.capacity for p in points])
    if fit is None:
        raise PlanError(f"the USL fit over replica counts {counts} did not converge")
    sigma, kappa = (0.0 if v < _FIT_NOISE else v for v in (fit.sigma, fit.kappa))
    model = ScalingModel(USL, fit.lam, sigma, kappa, fit.r2)
    return model, (
        f"USL fitted to capacity vs replicas over {len(points)} counts ({counts}): {fit.parameters()}"
    )


def _amdahl(a: PlanPoint, b: PlanPoint) -> tuple[ScalingModel, str]:
    """lambda and sigma of c = lambda*n / (1 + sigma*(n - 1)) through two points (n1 < n2), the case
    decided by the data, and the sentence naming it: per-replica capacity holding or rising is linear
    (sigma 0); no gain or a fall (c2 <= c1) is flat (sigma 1: c(N) = lambda = c1); in between, the formula
    (0 < sigma < 1)."""
    n1, c1, n2, c2 = a.replicas, a.capacity, b.replicas, b.capacity
    if c2 / n2 >= c1 / n1:
        return ScalingModel(AMDAHL, c1 / n1, 0.0), (
            f"per-replica capacity held or rose from {n1} to {n2} replicas ({c1 / n1:.3g} -> {c2 / n2:.3g}):"
            " linear, superlinear taken as linear"
        )
    if c2 <= c1:
        return ScalingModel(AMDAHL, c1, 1.0), (
            f"capacity did not rise from {n1} to {n2} replicas ({c1:g} -> {c2:g}, retrograde where it fell):"
            f" flat, more replicas on one host add nothing, capacity(N) = {c1:g}"
        )
    sigma = (n2 * c1 - n1 * c2) / (n1 * c2 * (n2 - 1) - n2 * c1 * (n1 - 1))
    lam = c1 * (1 + sigma * (n1 - 1)) / n1
    return ScalingModel(AMDAHL, lam, sigma), "contention between replicas measured"


def fewest_replicas(model: ScalingModel, required: float) -> int | None:
    """The fewest N with capacity(N - 1) >= required and capacity(N) >= required; None when none does."""
    need = required * (1 - _EPS)
    if model.kappa > 0:
        _, top = model.peak()
        limit = (top or 1) + 2
    elif model.sigma > 0:
        if model.lam <= need * model.sigma:
            return None  # the asymptote lambda/sigma lies at or below the requirement
        limit = math.ceil(need * (1 - model.sigma) / (model.lam - need * model.sigma)) + 2
    else:
        limit = math.ceil(need / model.lam) + 2
    for n in range(2, min(limit, _MAX_REPLICAS) + 1):
        if model.capacity(n - 1) >= need and model.capacity(n) >= need:
            return n
    return None


def plan(
    points: Sequence[PlanPoint],
    target_streams: int,
    headroom_pct: float = 0.0,
    replicas_per_host: int | None = None,
    notes: Sequence[str] = (),
) -> Plan:
    """The plan for `target_streams` from the measured points; `notes` join the assumptions."""
    usable = [p for p in points if p.replicas > 0 and p.capacity > 0]
    if not usable:
        raise PlanError("no input has both a replica count and a capacity above 0 to plan from")
    merged = per_count_medians(usable)
    model, model_note = scaling_model(merged)
    largest = max(p.replicas for p in merged)
    required = target_streams * (1 + headroom_pct / 100)
    n = fewest_replicas(model, required)
    peak, peak_at = model.peak()
    assumptions = [
        "capacity is the streams each measured run held at its own SLO (its profile's thresholds);"
        " the plan holds the target at that SLO, with that workload",
        model_note,
    ]
    if peak_at is not None:
        assumptions.append(
            f"the {model.kind} model peaks at {peak:.2f} streams at {peak_at} replica(s) on one host"
            + (f", within the counts measured (up to {largest})" if peak_at <= largest else "")
        )
    if n is None or (peak_at is not None and peak_at <= largest < n):
        return _scale_out(
            model,
            merged,
            required,
            replicas_per_host,
            (target_streams, headroom_pct),
            assumptions + list(notes),
        )
    per_host = replicas_per_host or largest
    assumptions += [
        f"N+1: {n} replicas carry {required:g} streams ({target_streams} + {headroom_pct:g} % headroom)"
        " with any one replica lost",
        f"a host (or GPU) runs {per_host} replica(s)"
        + (" (--per-host)" if replicas_per_host else f", the most one measured run ran together ({largest})")
        + "; N+1 covers one replica lost, not a whole host",
        "where the measured replicas shared one host (the local stack, a sweep on one GPU), the"
        " efficiency includes their contention for it: conservative for replicas spread over hosts;"
        " the balancer is assumed not to limit",
        *notes,
    ]
    if any(p.source.count(",") for p in merged):
        assumptions.append("several runs at one replica count: their median capacity is used")
    if n > largest:
        assumptions.append(
            f"extrapolated: {n} replicas is {n / largest:.2g}x the largest replica count measured"
            f" ({largest}); beyond it the figures are the {model.kind} model's, not measurements"
        )
    else:
        assumptions.append(f"interpolated: {n} replicas is within the counts measured (up to {largest})")
    reason = (
        f"{n} replicas carry {model.capacity(n):.1f} streams, {model.capacity(n - 1):.1f} with one"
        f" replica lost: >= {required:g}"
    )
    return Plan(
        target_streams,
        headroom_pct,
        required,
        n,
        math.ceil(n / per_host),
        per_host,
        model.capacity(n),
        model.capacity(n - 1),
        False,
        model,
        merged,
        largest,
        tuple(assumptions),
        reason,
    )


def _scale_out(
    model: ScalingModel,
    points: Sequence[PlanPoint],
    required: float,
    replicas_per_host: int | None,
    target: tuple[int, float],
    assumptions: list[str],
) -> Plan:
    """More replicas on one host do not reach `required`: H hosts of k replicas each (k the best measured
    count, or --per-host), hosts adding up linearly; the fewest H with H*c(k) >= required and, one replica
    lost on one host, (H - 1)*c(k) + c(k - 1) >= required. c(k) and c(k - 1) are measured where they were,
    the model's otherwise."""
    measured = {p.replicas: p.capacity for p in points}
    best = max(points, key=lambda p: (p.capacity, -p.replicas)).replicas
    k = replicas_per_host or best
    per_host, less_one = (measured.get(m, model.capacity(m)) for m in (k, k - 1))
    need = required * (1 - _EPS)
    hosts = max(1, math.ceil(need / per_host), math.ceil((need - less_one) / per_host) + 1)
    total, lost = hosts * per_host, (hosts - 1) * per_host + less_one

    def origin(m: int) -> str:
        if m == 0:
            return "no replica left"
        return "measured" if m in measured else f"the {model.kind} model's, not measured"

    largest = max(measured)
    assumptions += [
        f"more replicas on one host do not reach {required:g} streams within the {model.kind} model's peak:"
        f" the answer is hosts of {k} replica(s)"
        + (" (--per-host)" if replicas_per_host else f", the best count measured ({per_host:g} streams)"),
        "hosts add up linearly: not measured (measure replicas on separate hosts to know); the balancer"
        " is assumed not to limit",
        f"N+1 at host granularity: one replica lost leaves its host at c({k - 1}) = {less_one:g}"
        f" ({origin(k - 1)}): ({hosts} - 1) x {per_host:g} + {less_one:g} = {lost:g} >= {required:g}"
        f" (c({k}) = {per_host:g}: {origin(k)})",
    ]
    if any(p.source.count(",") for p in points):
        assumptions.append("several runs at one replica count: their median capacity is used")
    assumptions.append(
        f"extrapolated: {hosts} host(s) x {k} = {hosts * k} replicas; measured up to {largest} replicas"
        " on one host"
        if hosts > 1 or k > largest
        else f"interpolated: one host of {k} replica(s), a count measured (up to {largest})"
    )
    reason = (
        f"{hosts} host(s) of {k} replica(s) carry {total:g} streams, {lost:g} with one replica lost:"
        f" >= {required:g}"
    )
    return Plan(
        target[0],
        target[1],
        required,
        hosts * k,
        hosts,
        k,
        total,
        lost,
        True,
        model,
        tuple(points),
        largest,
        tuple(assumptions),
        reason,
    )


def sweep_points(sweep: Mapping[str, Any], source: str) -> tuple[list[PlanPoint], str]:
    """The points of a sweep.json: its configurations done with a capacity and the same settings as the
    best one (its `best`, else the done one of most capacity) but the replicas, and the same workload;
    the sentence saying which settings. Where the matrix shares `omp_cores` among the replicas, omp_threads
    follows from the replica count and is ignored in that match."""
    configs = [c for c in sweep.get("configs") or [] if isinstance(c, dict)]
    if not configs:
        raise PlanError(f"{source}: sweep.json lists no configurations")
    measured = [
        c for c in configs if c.get("status") == "done" and isinstance(c.get("capacity"), int | float)
    ]
    named = [c for c in configs if c.get("id") == sweep.get("best")]
    best = named[0] if named else max(measured, key=lambda c: c["capacity"], default=None)
    if best is None:
        raise PlanError(f"{source}: no configuration of the sweep is done with a capacity (has it run?)")
    matrix_server = (sweep.get("matrix") or {}).get("server") or {}
    cores = matrix_server.get(OMP_CORES) if isinstance(matrix_server, dict) else None
    derived = {"replicas", "omp_threads"} if cores is not None else {"replicas"}
    key = _settings_key(best, derived)
    points = [
        PlanPoint(f"{source}:{c.get('id')}", int(c["server"].get("replicas") or 1), float(c["capacity"]))
        for c in measured
        if _settings_key(c, derived) == key
    ]
    settings = ", ".join(
        f"{k}={v}" for k, v in sorted(best["server"].items()) if k not in derived and v is not None
    )
    note = f"{source}: the best configuration's settings ({settings}) at every replica count swept"
    if cores is not None:
        note += (
            f"; omp_threads ignored in that match: the matrix shares omp_cores = {cores} among the"
            " replicas (omp_threads = max(1, omp_cores // replicas)), so it changes with the replica count"
        )
    return points, note


def _settings_key(config: Mapping[str, Any], derived: set[str]) -> tuple[str, str]:
    server = {k: v for k, v in (config.get("server") or {}).items() if k not in derived}
    return repr(sorted(server.items())), repr(sorted((config.get("workload") or {}).items()))
