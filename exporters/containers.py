"""cAdvisor-named `container_*` families, shared by Docker containers and local processes.

Both collectors reduce what they read to `ContainerUsage`; one converter names it, so the same
dashboards serve the Compose stack and the local stack.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

from prometheus_client.metrics_core import Metric

from exporters.families import counter, gauge


@dataclass(frozen=True)
class ContainerLabels:
    """The identity of a container (or of a local replica process)."""

    name: str
    id: str
    compose_service: str
    replica: str
    gpu: str  # the GPU device ids it was given, comma-separated; "" if none


@dataclass(frozen=True)
class ContainerUsage:
    """One reading of one container, in base units; `None` where the source has no such reading."""

    labels: ContainerLabels
    cpu_seconds: float
    working_set_bytes: float
    usage_bytes: float | None = None
    threads: float | None = None
    network: Mapping[str, tuple[float, float]] = field(default_factory=dict)  # interface -> (rx, tx) bytes


def split_replica(name: str) -> tuple[str, str]:
    """`whisperlive-2` -> (`whisperlive`, `2`); a name without a numeric suffix has replica ""."""
    service, _, number = name.rpartition("-")
    return (service, number) if service and number.isdigit() else (name, "")


def container_families(usages: Sequence[ContainerUsage]) -> list[Metric]:
    """The `container_*` families of some readings; a family no reading has is left out."""
    rows = [(asdict(usage.labels), usage) for usage in usages]
    nets = [({**labels, "interface": iface}, rx_tx) for labels, u in rows
            for iface, rx_tx in u.network.items()]
    families = [
        counter(
            "container_cpu_usage_seconds_total",
            "Cumulative cpu time consumed in seconds (user and system).",
            [(labels, u.cpu_seconds) for labels, u in rows],
        ),
        gauge(
            "container_memory_working_set_bytes",
            "Current working set in bytes.",
            [(labels, u.working_set_bytes) for labels, u in rows],
        ),
        gauge(
            "container_memory_usage_bytes",
            "Current memory usage in bytes, including all memory regardless of when it was accessed.",
            [(labels, u.usage_bytes) for labels, u in rows if u.usage_bytes is not None],
        ),
        gauge(
            "container_threads",
            "Number of threads running inside the container.",
            [(labels, u.threads) for labels, u in rows if u.threads is not None],
        ),
        counter(
            "container_network_receive_bytes_total",
            "Cumulative count of bytes received.",
            [(labels, rx) for labels, (rx, _) in nets],
        ),
        counter(
            "container_network_transmit_bytes_total",
            "Cumulative count of bytes transmitted.",
            [(labels, tx) for labels, (_, tx) in nets],
        ),
    ]
    return [family for family in families if family.samples]
