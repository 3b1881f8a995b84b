"""Docker containers through the Docker SDK, named as cAdvisor names them.

Each poll lists the running containers (optionally filtered by label), then reads every container's
stats in parallel with `stream=False, one-shot=true` (a plain `stream=False` waits for a second sample,
1-2 s per container). A container's identity (names, compose labels, GPU requests) comes from its
inspect document, read once per container id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import docker
from docker.errors import NotFound
from prometheus_client.metrics_core import Metric

from exporters.containers import ContainerLabels, ContainerUsage, container_families

COMPOSE_SERVICE = "com.docker.compose.service"
COMPOSE_NUMBER = "com.docker.compose.container-number"
SHORT_ID = 12
NS_PER_S = 1e9

Json = Mapping[str, Any]


def _is_gpu_request(request: Json) -> bool:
    capabilities = request.get("Capabilities") or []
    return request.get("Driver") == "nvidia" or any("gpu" in group for group in capabilities)


def gpu_devices(device_requests: Sequence[Json] | None) -> str:
    """GPU ids of `HostConfig.DeviceRequests`: `0,1`; `all` for `--gpus all`; `any:N` for a bare count."""
    given: list[str] = []
    for request in filter(_is_gpu_request, device_requests or []):
        count = request.get("Count") or 0
        if request.get("DeviceIDs"):
            given += request["DeviceIDs"]
        elif count == -1:
            return "all"
        elif count > 0:
            given.append(f"any:{count}")
    return ",".join(given)


def container_labels(inspect: Json) -> ContainerLabels:
    """A container's identity from its inspect document (`GET /containers/{id}/json`)."""
    labels = (inspect.get("Config") or {}).get("Labels") or {}
    return ContainerLabels(
        name=str(inspect.get("Name", "")).lstrip("/"),
        id=str(inspect["Id"])[:SHORT_ID],
        compose_service=labels.get(COMPOSE_SERVICE, ""),
        replica=labels.get(COMPOSE_NUMBER, ""),
        gpu=gpu_devices((inspect.get("HostConfig") or {}).get("DeviceRequests")),
    )


def working_set_bytes(memory_stats: Json) -> float:
    """Usage minus inactive file cache, floored at 0, as cAdvisor computes it (cgroup v1 or v2)."""
    stats = memory_stats.get("stats") or {}
    inactive = stats.get("total_inactive_file", stats.get("inactive_file", 0))  # v1 key, then v2 key
    return float(max(0, memory_stats["usage"] - inactive))


def docker_usage(labels: ContainerLabels, stats: Json) -> ContainerUsage | None:
    """One stats document (`GET /containers/{id}/stats`) as a reading; None for a stopped container."""
    memory = stats.get("memory_stats") or {}
    cpu_ns = ((stats.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage")
    if cpu_ns is None or "usage" not in memory:
        return None
    networks = stats.get("networks") or {}
    return ContainerUsage(
        labels=labels,
        cpu_seconds=cpu_ns / NS_PER_S,
        working_set_bytes=working_set_bytes(memory),
        usage_bytes=float(memory["usage"]),
        threads=(stats.get("pids_stats") or {}).get("current"),
        network={iface: (float(n["rx_bytes"]), float(n["tx_bytes"])) for iface, n in networks.items()},
    )


class DockerSource:
    """The running containers of one Docker engine."""

    name = "docker"
    up_metric = "exporter_docker_up"
    up_help = "1 when the Docker engine answered the last poll."

    def __init__(self, url: str, label_filters: Sequence[str] = (), timeout_s: float = 5.0,
                 workers: int = 8) -> None:
        self._url = url
        self._filters = {"label": list(label_filters)} if label_filters else None
        self._timeout_s = timeout_s
        self._client: docker.DockerClient | None = None
        self._identities: dict[str, ContainerLabels] = {}
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="docker-stats")

    async def poll(self) -> list[ContainerUsage]:
        """Usage of every running container that passes the filters."""
        return await asyncio.to_thread(self._read)

    def families(self, snapshot: list[ContainerUsage]) -> Iterable[Metric]:
        """The `container_*` families."""
        return container_families(snapshot)

    async def close(self) -> None:
        """Close the client and the stats threads."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._client is not None:
            self._client.close()

    def _api(self) -> docker.APIClient:
        if self._client is None:  # connecting asks the engine for its API version: retried every poll
            self._client = docker.DockerClient(base_url=self._url, timeout=self._timeout_s)
        return self._client.api

    def _read(self) -> list[ContainerUsage]:
        api = self._api()
        ids = [str(summary["Id"]) for summary in api.containers(filters=self._filters)]
        self._identities = {cid: self._identities[cid] for cid in ids if cid in self._identities}
        readings = self._pool.map(lambda cid: self._read_one(api, cid), ids)
        return [reading for reading in readings if reading is not None]

    def _read_one(self, api: docker.APIClient, cid: str) -> ContainerUsage | None:
        try:
            if cid not in self._identities:
                self._identities[cid] = container_labels(api.inspect_container(cid))
            return docker_usage(self._identities[cid], api.stats(cid, stream=False, one_shot=True))
        except NotFound:  # removed between the listing and its stats
            return None
