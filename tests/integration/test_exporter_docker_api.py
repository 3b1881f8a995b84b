"""The Docker collector with the real Docker SDK against RECORDED Docker Engine API responses.

No Docker engine can run here, so `fake_engine` serves the responses in `tests/fixtures/docker_api/` (shapes
of Engine API v1.43) over a UNIX socket with a small aiohttp server: a test double of the engine only; the
SDK, its HTTP-over-UNIX-socket transport and the collector are the real ones.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from exporters.docker_containers import DockerSource
from exporters.exposition import render
from exporters.poller import Poller, PollStats
from tests.metrics_text import samples_of
from tests.unix_app import serve_unix

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "docker_api"
PROJECT_FILTER = "com.docker.compose.project=wlcap"


@dataclass
class FakeEngine:
    """Where the recorded engine listens, and what it was asked."""

    url: str
    requests: Counter = field(default_factory=Counter)
    stats_queries: list[dict[str, str]] = field(default_factory=list)


def _matches(labels: dict[str, str], wanted: list[str]) -> bool:
    for condition in wanted:
        key, _, value = condition.partition("=")
        if key not in labels or (value and labels[key] != value):
            return False
    return True


def _engine_app(engine: FakeEngine) -> web.Application:
    def recorded(*parts: str) -> web.Response:
        path = FIXTURES.joinpath(*parts)
        if not path.is_file():
            return web.json_response({"message": f"No such container: {parts[1]}"}, status=404)
        return web.Response(body=path.read_bytes(), content_type="application/json")

    async def version(_: web.Request) -> web.Response:
        engine.requests["version"] += 1
        return recorded("version.json")

    async def containers(request: web.Request) -> web.Response:
        engine.requests["list"] += 1
        wanted = json.loads(request.query.get("filters", "{}")).get("label", [])
        listed = json.loads((FIXTURES / "containers.json").read_text())
        return web.json_response([c for c in listed if _matches(c["Labels"], wanted)])

    async def inspect(request: web.Request) -> web.Response:
        engine.requests["inspect"] += 1
        return recorded("containers", request.match_info["id"], "json.json")

    async def stats(request: web.Request) -> web.Response:
        engine.requests["stats"] += 1
        engine.stats_queries.append(dict(request.query))
        return recorded("containers", request.match_info["id"], "stats.json")

    app = web.Application()
    app.router.add_get("/version", version)
    app.router.add_get("/v{api}/containers/json", containers)
    app.router.add_get("/v{api}/containers/{id}/json", inspect)
    app.router.add_get("/v{api}/containers/{id}/stats", stats)
    return app


@pytest.fixture
async def fake_engine() -> AsyncIterator[FakeEngine]:
    engine = FakeEngine(url="")
    async with serve_unix(_engine_app(engine)) as url:
        engine.url = url
        yield engine


def _exporter(source: DockerSource) -> tuple[Poller, CollectorRegistry]:
    registry = CollectorRegistry()
    poller = Poller(source, 1.0, PollStats(registry, ["docker"]))
    registry.register(poller)
    return poller, registry


def _by_name(samples: dict, metric: str) -> dict[str, float]:
    return {dict(labels)["name"]: value for (name, labels), value in samples.items() if name == metric}


async def test_collector_reads_every_container_of_the_project(fake_engine):
    source = DockerSource(fake_engine.url, [PROJECT_FILTER])
    poller, registry = _exporter(source)
    try:
        await poller.poll_once()
        await poller.poll_once()
    finally:
        await source.close()
    samples = samples_of(render(registry).decode())
    assert samples[("exporter_docker_up", ())] == 1
    cpu = _by_name(samples, "container_cpu_usage_seconds_total")
    # billing-db-1 is another project's; wlcap-whisperlive-3 vanished between the listing and its reads
    assert cpu == pytest.approx(
        {"wlcap-whisperlive-1": 1843.520331, "wlcap-whisperlive-2": 1721.0, "wlcap-nginx-1": 98.7654321}
    )
    assert _by_name(samples, "container_memory_working_set_bytes") == {
        "wlcap-whisperlive-1": 2147483648 - 268435456,
        "wlcap-whisperlive-2": 2080374784 - 201326592,
        "wlcap-nginx-1": 15728640 - 4194304,
    }
    assert _by_name(samples, "container_memory_usage_bytes")["wlcap-nginx-1"] == 15728640
    assert _by_name(samples, "container_threads") == {
        "wlcap-whisperlive-1": 23,
        "wlcap-whisperlive-2": 21,
        "wlcap-nginx-1": 3,
    }
    rx = {
        (dict(labels)["name"], dict(labels)["interface"]): v
        for (name, labels), v in samples.items()
        if name == "container_network_receive_bytes_total"
    }
    assert rx[("wlcap-nginx-1", "eth1")] == 1000 and rx[("wlcap-whisperlive-1", "eth0")] == 987654321
    identity = {
        dict(labels)["name"]: dict(labels) for (name, labels) in samples if name == "container_threads"
    }
    assert identity["wlcap-whisperlive-2"] == {
        "name": "wlcap-whisperlive-2",
        "id": "8e7d6c5b4a39",
        "compose_service": "whisperlive",
        "replica": "2",
        "gpu": "1",
    }
    assert identity["wlcap-nginx-1"]["gpu"] == ""


async def test_stats_are_one_shot_and_identities_are_inspected_once(fake_engine):
    source = DockerSource(fake_engine.url, [PROJECT_FILTER])
    poller, _ = _exporter(source)
    try:
        for _ in range(3):
            await poller.poll_once()
    finally:
        await source.close()
    assert fake_engine.requests["version"] == 1  # the API version is asked once, when connecting
    assert fake_engine.requests["list"] == 3
    assert fake_engine.requests["inspect"] == 3 + 3 * 1  # three once; the vanished one on every poll
    assert fake_engine.requests["stats"] == 3 * 3  # not for the vanished one
    assert all(q["stream"] == "False" and q["one-shot"] == "True" for q in fake_engine.stats_queries)


async def test_without_a_filter_every_running_container_is_read(fake_engine):
    source = DockerSource(fake_engine.url)
    poller, registry = _exporter(source)
    try:
        await poller.poll_once()
    finally:
        await source.close()
    names = set(_by_name(samples_of(render(registry).decode()), "container_threads"))
    assert names == {"wlcap-whisperlive-1", "wlcap-whisperlive-2", "wlcap-nginx-1", "billing-db-1"}


async def test_no_engine_is_up_0_with_one_log_line(tmp_path, caplog):
    """The real SDK against a socket path where no engine listens."""
    source = DockerSource(f"unix://{tmp_path}/docker.sock", timeout_s=1.0)
    poller, registry = _exporter(source)
    try:
        with caplog.at_level(logging.INFO, logger="exporters"):
            for _ in range(3):
                await poller.poll_once()
    finally:
        await source.close()
    samples = samples_of(render(registry).decode())
    assert samples[("exporter_docker_up", ())] == 0
    assert not any(name.startswith("container_") for name, _ in samples)
    assert len(caplog.records) == 1 and "exporter_docker_up is 0" in caplog.records[0].getMessage()
