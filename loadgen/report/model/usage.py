"""Resource usage of one step window, as plain values (what `resources.py` fetches, what the model reads).

Kept apart from the fetching so the pure modules and summary.json round-trips need no HTTP client.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class ReplicaUsage:
    """One replica (container or local process, by its `name` label) over a window."""

    cpu_cores: float | None = None  # average cores used
    cpu_limit_cores: float | None = None  # its CPU quota, when the runtime sets one
    memory_bytes: float | None = None  # largest working set
    memory_limit_bytes: float | None = None


@dataclass(frozen=True)
class GpuUsage:
    """One GPU (dcgm `gpu` label) over a window."""

    util_pct: float | None = None  # average utilisation, 0-100
    fb_used_mib: float | None = None  # largest framebuffer use
    fb_total_mib: float | None = None  # used + free


@dataclass(frozen=True)
class StepResources:
    """Everything Prometheus knew about one step window."""

    replicas: dict[str, ReplicaUsage] = field(default_factory=dict)
    gpus: dict[str, GpuUsage] = field(default_factory=dict)
    sessions_by_replica: dict[str, float] = field(default_factory=dict)  # by X-Upstream address
    nginx_active_avg: float | None = None
    nginx_active_max: float | None = None
    host_cpus: float | None = None  # cAdvisor's machine_cpu_cores, when scraped

    def to_json_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> StepResources:
        """Inverse of `to_json_dict`."""
        return cls(
            replicas={k: ReplicaUsage(**v) for k, v in (data.get("replicas") or {}).items()},
            gpus={k: GpuUsage(**v) for k, v in (data.get("gpus") or {}).items()},
            sessions_by_replica=dict(data.get("sessions_by_replica") or {}),
            nginx_active_avg=data.get("nginx_active_avg"),
            nginx_active_max=data.get("nginx_active_max"),
            host_cpus=data.get("host_cpus"),
        )


def resources_to_json(resources: dict[int, StepResources]) -> dict[str, Any]:
    """Step index -> resources, JSON-ready (keys become strings)."""
    return {str(index): usage.to_json_dict() for index, usage in sorted(resources.items())}


def resources_from_json(data: dict[str, Any] | None) -> dict[int, StepResources]:
    """Inverse of `resources_to_json`; None or malformed entries give an empty mapping."""
    try:
        return {int(k): StepResources.from_json_dict(v) for k, v in (data or {}).items()}
    except (TypeError, ValueError, AttributeError):
        return {}
