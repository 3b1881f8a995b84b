"""What saturated first: the first resource to cross its allotment, the first criterion to fail, and
where goodput stopped rising. Pure.

Going up the steps by client count, a resource is saturated when it uses at least `SATURATED` of what
it is allotted: a replica's CPU quota, the host's cores (all replicas together), a memory limit, a
GPU's utilisation or its framebuffer. Allotments the runtime does not state are not judged. Goodput
stopped rising at the smallest client count whose goodput (averaged over the steps run at that count)
reaches `PLATEAU` of the most any count reached, when a larger count was measured.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from loadgen.report.model.steps import StepRow, clients_text
from loadgen.report.model.usage import StepResources

SATURATED = 0.9
PLATEAU = 0.95


@dataclass(frozen=True)
class Usage:
    """One resource of one window against its allotment."""

    what: str
    used: float
    allotted: float
    unit: str

    @property
    def ratio(self) -> float:
        """used / allotted."""
        return self.used / self.allotted

    def __str__(self) -> str:
        return f"{self.what} {self.used:.2f} of {self.allotted:.2f} {self.unit} ({100 * self.ratio:.0f} %)"


@dataclass(frozen=True)
class Saturation:
    """The first saturated resources and the first failing criteria, each with its client count."""

    resource_clients: int | None
    resources: list[str]  # every resource that crossed at that step
    criterion_clients: int | None
    criteria: list[str]
    highest: str | None  # the resource closest to its allotment over the whole run, and where
    headline: str
    goodput_peak_clients: int | None = None  # where goodput stopped rising; None: it never did


def usages(usage: StepResources, host_cpus: float | None) -> list[Usage]:
    """Every resource of one window whose allotment is known."""
    pairs = []
    for name, r in sorted(usage.replicas.items()):
        pairs.append(Usage(f"CPU of {name}", r.cpu_cores or 0.0, r.cpu_limit_cores or 0.0, "cores"))
        pairs.append(Usage(f"memory of {name}", _gib(r.memory_bytes), _gib(r.memory_limit_bytes), "GiB"))
    cores = sum(r.cpu_cores or 0.0 for r in usage.replicas.values())
    pairs.append(Usage("host CPU (all replicas)", cores, usage.host_cpus or host_cpus or 0.0, "cores"))
    for gpu, g in sorted(usage.gpus.items()):
        pairs.append(Usage(f"GPU {gpu} utilisation", g.util_pct or 0.0, 100.0, "%"))
        pairs.append(Usage(f"GPU {gpu} memory", g.fb_used_mib or 0.0, g.fb_total_mib or 0.0, "MiB"))
    return [u for u in pairs if u.allotted > 0]


def _gib(value: float | None) -> float:
    return 0.0 if value is None else value / 2**30


def what_saturated_first(
    rows: Sequence[StepRow], resources: dict[int, StepResources], host_cpus: float | None
) -> Saturation:
    """Walk the steps by client count; name the first resource at SATURATED of its allotment, the first
    failing criteria, and the resource that came closest."""
    ordered = sorted(rows, key=lambda r: (r.clients, r.index))
    measured = [(r.clients, usages(resources[r.index], host_cpus)) for r in ordered if r.index in resources]
    hit: tuple[int | None, list[str]] = (None, [])
    for clients, found in measured:
        crossed = [str(u) for u in found if u.ratio >= SATURATED]
        if crossed:
            hit = (clients, crossed)
            break
    top = max(((u.ratio, n, u) for n, us in measured for u in us), default=None, key=lambda t: t[0])
    highest = f"{top[2]} at {clients_text(top[1])}" if top else None
    fail: tuple[int | None, list[str]] = next(
        ((r.clients, r.failed) for r in ordered if r.passed is False), (None, [])
    )
    headline = _headline(hit, fail, highest if resources else None, bool(resources))
    peak, goodput = goodput_plateau(ordered)
    return Saturation(hit[0], hit[1], fail[0], fail[1], highest, f"{headline}; {goodput}", peak)


def _mean_by_clients(rows: Sequence[StepRow], value: str) -> dict[int, float]:
    groups: dict[int, list[float]] = defaultdict(list)
    for r in rows:
        v = getattr(r, value)
        if v is not None:
            groups[r.clients].append(v)
    return {n: sum(vs) / len(vs) for n, vs in sorted(groups.items())}


def goodput_plateau(rows: Sequence[StepRow]) -> tuple[int | None, str]:
    """Where goodput stopped rising (None: it did not, or was not measured) and the sentence saying so,
    with throughput beside it."""
    goodput = _mean_by_clients(rows, "goodput")
    if len(goodput) < 2 or max(goodput.values()) <= 0:
        return None, "goodput: not measured at two client counts"
    top = max(goodput.values())
    largest = max(goodput)
    peak = next(n for n, g in goodput.items() if g >= PLATEAU * top)
    if peak == largest:
        return None, f"goodput still rising at {clients_text(largest)} ({goodput[largest]:.2f} streams)"
    throughput = _mean_by_clients(rows, "throughput")
    beside = (
        f"; throughput {throughput[peak]:.2f} there, {throughput[largest]:.2f} at {clients_text(largest)}"
        if peak in throughput and largest in throughput
        else ""
    )
    return peak, (
        f"goodput stopped rising at {clients_text(peak)} ({goodput[peak]:.2f} streams; "
        f"{goodput[largest]:.2f} at {clients_text(largest)}{beside})"
    )


def _headline(
    hit: tuple[int | None, list[str]], fail: tuple[int | None, list[str]], highest: str | None, measured: bool
) -> str:
    failed = (
        f"{'; '.join(fail[1]) or 'a criterion'} at {clients_text(fail[0])}" if fail[0] is not None else None
    )
    if hit[0] is None:
        scope = (
            f"no resource reached {100 * SATURATED:.0f} % of its allotment"
            if measured
            else "no resource data"
        )
        if highest:
            scope += f"; highest: {highest}"
        return f"first failure: {failed} ({scope})" if failed else f"nothing failed ({scope})"
    first = f"{hit[1][0]} at {clients_text(hit[0])}"
    if failed is None:
        return f"{first} saturated first; no criterion failed"
    return f"{first} saturated first; first failure: {failed}"
