"""Resources per step window from the Prometheus HTTP API (the report's I/O edge).

Each step's window [measure_from, ended_at] is evaluated as a range selector of its length at `ended_at`:
CPU cores (rate of `container_cpu_usage_seconds_total`), the largest memory working set, GPU utilisation
and framebuffer use (DCGM names) when scraped, sessions per replica (`loadgen_sessions_total`) and nginx
active connections. An unreachable Prometheus gives one warning and no resources; a series Prometheus
does not have is simply absent.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from loadgen.core.records import StepRecord
from loadgen.report.model.usage import GpuUsage, ReplicaUsage, StepResources

DEFAULT_REPLICA_MATCH = ".*whisperlive.*"  # local replicas are whisperlive-N; Compose adds a project prefix
MIN_RANGE_S = 10  # two scrapes at the stacks' 5 s interval
TIMEOUT_S = 5.0

# PromQL templates: {sel} is the replica selector, {r} the window's range.
REPLICA_QUERIES = {
    "cpu_cores": "sum by (name) (rate(container_cpu_usage_seconds_total{sel}[{r}]))",
    "cpu_limit_cores": "max by (name) (container_spec_cpu_quota{sel} / container_spec_cpu_period{sel})",
    "memory_bytes": "max by (name) (max_over_time(container_memory_working_set_bytes{sel}[{r}]))",
    "memory_limit_bytes": "max by (name) (container_spec_memory_limit_bytes{sel} > 0)",
}
GPU_QUERIES = {
    "util_pct": "avg by (gpu) (avg_over_time(DCGM_FI_DEV_GPU_UTIL[{r}]))",
    "fb_used_mib": "max by (gpu) (max_over_time(DCGM_FI_DEV_FB_USED[{r}]))",
    "fb_total_mib": "max by (gpu) (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE)",
}
SESSIONS_QUERY = 'sum by (replica) (increase(loadgen_sessions_total{replica!=""}[{r}]))'
SCALAR_QUERIES = {
    "nginx_active_avg": "sum(avg_over_time(nginx_connections_active[{r}]))",
    "nginx_active_max": "sum(max_over_time(nginx_connections_active[{r}]))",
    "host_cpus": "max(machine_cpu_cores)",
}


@dataclass(frozen=True)
class Window:
    """A step window to evaluate: its index and [start, end] in unix seconds."""

    index: int
    start: float
    end: float


class PrometheusUnavailable(Exception):
    """Prometheus did not answer a query usably (one line)."""


def windows_of(steps: Iterable[StepRecord]) -> list[Window]:
    """The measured window of each step record that has one."""
    return [
        Window(s.index, s.measure_from, s.ended_at)
        for s in steps
        if s.measure_from is not None and s.ended_at is not None and s.ended_at > s.measure_from
    ]


def fetch_resources(
    prometheus_url: str, windows: Sequence[Window], replica_match: str = DEFAULT_REPLICA_MATCH
) -> tuple[dict[int, StepResources], str | None]:
    """Resources of each window, and one warning line when Prometheus could not be used (then nothing)."""
    try:
        with httpx.Client(base_url=prometheus_url.rstrip("/"), timeout=TIMEOUT_S) as client:
            return {w.index: _window(client, w, replica_match) for w in windows}, None
    except (httpx.HTTPError, PrometheusUnavailable, ValueError) as exc:
        return {}, f"Prometheus at {prometheus_url} unusable ({exc}); the report has no resource data"


def _window(client: httpx.Client, window: Window, replica_match: str) -> StepResources:
    r = f"{max(MIN_RANGE_S, math.ceil(window.end - window.start))}s"
    escaped = replica_match.replace('"', '\\"')
    sel = f'{{name=~"{escaped}"}}'

    def expr(template: str) -> str:
        return template.replace("{sel}", sel).replace("{r}", r)

    by_replica = {k: _by_label(client, expr(q), window.end, "name") for k, q in REPLICA_QUERIES.items()}
    by_gpu = {k: _by_label(client, expr(q), window.end, "gpu") for k, q in GPU_QUERIES.items()}
    scalars = {k: _scalar(client, expr(q), window.end) for k, q in SCALAR_QUERIES.items()}
    names = sorted(set().union(*by_replica.values()))
    gpus = sorted(set().union(*by_gpu.values()))
    return StepResources(
        replicas={n: ReplicaUsage(**{k: v.get(n) for k, v in by_replica.items()}) for n in names},
        gpus={g: GpuUsage(**{k: v.get(g) for k, v in by_gpu.items()}) for g in gpus},
        sessions_by_replica=_by_label(client, expr(SESSIONS_QUERY), window.end, "replica"),
        nginx_active_avg=scalars["nginx_active_avg"],
        nginx_active_max=scalars["nginx_active_max"],
        host_cpus=scalars["host_cpus"],
    )


def _query(client: httpx.Client, expr: str, at: float) -> list[dict[str, Any]]:
    response = client.get("/api/v1/query", params={"query": expr, "time": f"{at:.3f}"})
    if response.status_code >= 500 or response.status_code == 404:
        raise PrometheusUnavailable(f"HTTP {response.status_code} from {response.url}")
    body = response.json()
    if body.get("status") != "success":
        raise PrometheusUnavailable(f"query {expr!r} failed: {body.get('error', body)}")
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def _by_label(client: httpx.Client, expr: str, at: float, label: str) -> dict[str, float]:
    out = {}
    for series in _query(client, expr, at):
        value = float(series["value"][1])
        if math.isfinite(value):
            out[series["metric"].get(label, "")] = value
    return out


def _scalar(client: httpx.Client, expr: str, at: float) -> float | None:
    values = list(_by_label(client, expr, at, "__name__").values())
    return values[0] if values else None
