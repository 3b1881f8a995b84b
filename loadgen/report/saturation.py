"""What saturated first: the first resource to cross its allotment, and the first criterion to fail. Pure.

Going up the steps by client count, a resource is saturated when it uses at least `SATURATED` of what
it is allotted: a replica's CPU quota, the host's cores (all replicas together), a memory limit, a
GPU's utilisation or its framebuffer. Allotments the runtime does not state are not judged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from loadgen.report.steps import StepRow, clients_text
from loadgen.report.usage import StepResources

SATURATED = 0.9


@dataclass(frozen=True)
class Saturation:
    """The first saturated resources and the first failing criteria, each with its client count."""

    resource_clients: int | None
    resources: list[str]  # every resource that crossed at that step
    criterion_clients: int | None
    criteria: list[str]
    headline: str


def saturated_resources(usage: StepResources, host_cpus: float | None) -> list[str]:
    """Each resource of one window at or above SATURATED of its allotment, described."""
    found = []
    for name, r in sorted(usage.replicas.items()):
        found += _crossed(f"CPU of {name}", r.cpu_cores, r.cpu_limit_cores, "cores")
        found += _crossed(f"memory of {name}", _gib(r.memory_bytes), _gib(r.memory_limit_bytes), "GiB")
    cores = [r.cpu_cores for r in usage.replicas.values() if r.cpu_cores is not None]
    found += _crossed(
        "host CPU (all replicas)", sum(cores) if cores else None, usage.host_cpus or host_cpus, "cores"
    )
    for gpu, g in sorted(usage.gpus.items()):
        found += _crossed(
            f"GPU {gpu} utilisation", g.util_pct, 100.0 if g.util_pct is not None else None, "%"
        )
        found += _crossed(f"GPU {gpu} memory", g.fb_used_mib, g.fb_total_mib, "MiB")
    return found


def _gib(value: float | None) -> float | None:
    return None if value is None else value / 2**30


def _crossed(what: str, used: float | None, allotted: float | None, unit: str) -> list[str]:
    if used is None or not allotted or used < SATURATED * allotted:
        return []
    return [f"{what} {used:.2f} of {allotted:.2f} {unit} ({used / allotted:.0%})"]


def what_saturated_first(
    rows: Sequence[StepRow], resources: dict[int, StepResources], host_cpus: float | None
) -> Saturation:
    """Walk the steps by client count; name the first resource crossing and the first failing criteria."""
    ordered = sorted(rows, key=lambda r: (r.clients, r.index))
    hit: tuple[int | None, list[str]] = (None, [])
    for row in ordered:
        found = saturated_resources(resources[row.index], host_cpus) if row.index in resources else []
        if found:
            hit = (row.clients, found)
            break
    fail: tuple[int | None, list[str]] = next(
        ((r.clients, r.failed) for r in ordered if r.passed is False), (None, [])
    )
    return Saturation(hit[0], hit[1], fail[0], fail[1], _headline(hit, fail, bool(resources)))


def _headline(
    hit: tuple[int | None, list[str]], fail: tuple[int | None, list[str]], have_resources: bool
) -> str:
    failed = (
        f"{'; '.join(fail[1]) or 'a criterion'} at {clients_text(fail[0])}" if fail[0] is not None else None
    )
    if hit[0] is None:
        scope = "no resource reached 90 % of its allotment" if have_resources else "no resource data"
        return f"first failure: {failed} ({scope})" if failed else f"nothing failed ({scope})"
    first = f"{hit[1][0]} at {clients_text(hit[0])}"
    if failed is None:
        return f"{first} saturated first; no criterion failed"
    return f"{first} saturated first; first failure: {failed}"
