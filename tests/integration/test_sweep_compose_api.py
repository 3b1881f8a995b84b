"""The sweep's Compose target with the real Docker SDK against RECORDED Docker Engine API responses.

No Docker engine runs here, so the API is replayed: `engine` serves `tests/fixtures/docker_api_compose/`
(a CPU Compose project `wlcap` with three WhisperLive replicas, its nginx and another project's
container; Engine API v1.43) over a UNIX socket with a small aiohttp server, and answers the calls that
change containers (stop, remove, create, connect, start) as the Engine does, recording each: a test
double of the engine only. The SDK, its HTTP-over-UNIX-socket transport and the target are the real
ones; the tests assert the exact calls made, in order, with their bodies.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import pytest
from aiohttp import web

from loadgen.core.errors import UsageError
from loadgen.core.matrix import ServerSettings
from loadgen.sweep.compose import ComposeTarget
from tests.unix_app import serve_unix

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RECORDED = FIXTURES / "docker_api_compose"
VERSION = FIXTURES / "docker_api" / "version.json"
LISTED = json.loads((RECORDED / "containers.json").read_text())
REPLICA = {
    int(c["Labels"]["com.docker.compose.container-number"]): c["Id"]
    for c in LISTED
    if c["Labels"].get("com.docker.compose.service") == "whisperlive"
}
BATCH = ServerSettings(mode="batch", replicas=2, batch_max_size=8, omp_threads=1)
SETTINGS_CMD = ["--metrics-port", "9091", "--model", "tiny.en", "--omp-threads", "1", "--batch",
                "--batch-max-size", "8"]  # fmt: skip


@dataclass
class Engine:
    """Where the replayed engine listens, and every call made to it (method, path, query, body)."""

    url: str
    calls: list[tuple[str, str, dict[str, str], Any]] = field(default_factory=list)

    def changes(self) -> list[tuple[str, str, dict[str, str], Any]]:
        """The calls after connecting (GET /version) and listing."""
        return [c for c in self.calls if c[1] not in ("/version", "/containers/json")]


def _inspected(cid: str) -> dict[str, Any]:
    return json.loads((RECORDED / "containers" / f"{cid}.json").read_text())


def _app(engine: Engine) -> web.Application:
    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.read()
        path = "/" + request.path.split("/", 2)[2] if request.path.startswith("/v1.") else request.path
        engine.calls.append((request.method, path, dict(request.query), json.loads(body) if body else None))
        return await handler(request)

    def recorded(path: Path) -> web.Response:
        return web.Response(body=path.read_bytes(), content_type="application/json")

    async def containers(request: web.Request) -> web.Response:
        wanted = json.loads(request.query.get("filters", "{}")).get("label", [])
        return web.json_response(
            [
                c
                for c in LISTED
                if all(c["Labels"].get(k) == v for k, _, v in (w.partition("=") for w in wanted))
            ]
        )

    async def inspect(request: web.Request) -> web.Response:
        return recorded(RECORDED / "containers" / f"{request.match_info['id']}.json")

    async def create(request: web.Request) -> web.Response:
        return web.json_response({"Id": f"new-{request.query['name']}", "Warnings": []}, status=201)

    async def no_content(_: web.Request) -> web.Response:
        return web.Response(status=204)

    async def connected(_: web.Request) -> web.Response:
        return web.Response(status=200, body=b"OK")

    app = web.Application(middlewares=[record])

    async def version(_: web.Request) -> web.Response:
        return recorded(VERSION)

    async def info(_: web.Request) -> web.Response:
        return recorded(RECORDED / "info.json")

    app.router.add_get("/version", version)
    app.router.add_get("/v{api}/info", info)
    app.router.add_get("/v{api}/containers/json", containers)
    app.router.add_get("/v{api}/containers/{id}/json", inspect)
    app.router.add_post("/v{api}/containers/create", create)
    app.router.add_post("/v{api}/containers/{id}/stop", no_content)
    app.router.add_post("/v{api}/containers/{id}/start", no_content)
    app.router.add_delete("/v{api}/containers/{id}", no_content)
    app.router.add_post("/v{api}/networks/{id}/connect", connected)
    return app


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    replayed = Engine(url="")
    async with serve_unix(_app(replayed)) as url:
        replayed.url = url
        yield replayed


async def _target(engine: Engine, project: str | None = "wlcap") -> ComposeTarget:
    client = await asyncio.to_thread(docker.DockerClient, base_url=engine.url)
    return ComposeTarget(client, "whisperlive", project, "ws://127.0.0.1:9090", stop_timeout_s=150)


def _expected_body(number: int, name: str, source: int) -> dict[str, Any]:
    """What the create body must carry: the source's Config (less its Hostname, the old id, and the
    top-level nulls, which the SDK leaves out of a JSON body) and HostConfig, and the settings' Cmd."""
    inspected = _inspected(REPLICA[source])
    config = {k: v for k, v in inspected["Config"].items() if k != "Hostname" and v is not None}
    labels = {k: v for k, v in config["Labels"].items() if k != "com.docker.compose.config-hash"}
    return {
        **config,
        "Cmd": SETTINGS_CMD,
        "Labels": {**labels, "com.docker.compose.container-number": str(number)},
        "HostConfig": inspected["HostConfig"],
        "NetworkingConfig": {"EndpointsConfig": {"wlcap_default": {"Aliases": [name, "whisperlive"]}}},
    }


async def test_deploy_recreates_n_replicas_with_the_settings_and_stops_the_rest(engine):
    target = await _target(engine)
    assert await asyncio.to_thread(target.deploy, BATCH) == "ws://127.0.0.1:9090"
    listing = [c for c in engine.calls if c[1] == "/containers/json"]
    assert len(listing) == 1 and listing[0][2]["all"] == "1"
    assert json.loads(listing[0][2]["filters"]) == {
        "label": ["com.docker.compose.service=whisperlive", "com.docker.compose.project=wlcap"]
    }
    one, two, three = REPLICA[1], REPLICA[2], REPLICA[3]
    assert engine.changes() == [
        ("GET", f"/containers/{one}/json", {}, None),
        ("GET", f"/containers/{two}/json", {}, None),
        ("POST", f"/containers/{one}/stop", {"t": "150"}, None),
        ("DELETE", f"/containers/{one}", {"v": "False", "link": "False", "force": "False"}, None),
        (
            "POST",
            "/containers/create",
            {"name": "wlcap-whisperlive-1"},
            _expected_body(1, "wlcap-whisperlive-1", 1),
        ),
        (
            "POST",
            "/networks/wlcap_monitoring/connect",
            {},
            {"Container": "new-wlcap-whisperlive-1", "EndpointConfig": {"Aliases": ["wlcap-whisperlive-1"]}},
        ),
        ("POST", "/containers/new-wlcap-whisperlive-1/start", {}, None),
        ("POST", f"/containers/{two}/stop", {"t": "150"}, None),
        ("DELETE", f"/containers/{two}", {"v": "False", "link": "False", "force": "False"}, None),
        (
            "POST",
            "/containers/create",
            {"name": "wlcap-whisperlive-2"},
            _expected_body(2, "wlcap-whisperlive-2", 2),
        ),
        ("POST", "/containers/new-wlcap-whisperlive-2/start", {}, None),
        ("POST", f"/containers/{three}/stop", {"t": "150"}, None),
    ]
    created = [c[3] for c in engine.calls if c[1] == "/containers/create"]
    assert all(
        body["Entrypoint"] == ["python", "-m", "whisperlive", "serve", "--host", "0.0.0.0"]
        for body in created
    )
    assert all(body["HostConfig"]["Mounts"][0]["Source"] == "wlcap_model-cache" for body in created)


async def test_a_replica_compose_never_created_is_cloned_from_the_first(engine):
    target = await _target(engine)
    await asyncio.to_thread(
        target.deploy, ServerSettings(mode="batch", replicas=4, batch_max_size=8, omp_threads=1)
    )
    creates = [c for c in engine.calls if c[1] == "/containers/create"]
    assert [c[2]["name"] for c in creates] == [f"wlcap-whisperlive-{n}" for n in (1, 2, 3, 4)]
    assert creates[3][3] == _expected_body(4, "wlcap-whisperlive-4", 1)
    assert ("POST", "/containers/new-wlcap-whisperlive-4/start", {}, None) in engine.calls
    assert [c[1] for c in engine.calls if c[1].endswith("/stop")] == [
        f"/containers/{REPLICA[n]}/stop" for n in (1, 2, 3)
    ]


async def test_stop_stops_every_replica_and_describe_reads_the_host(engine):
    target = await _target(engine)
    await asyncio.to_thread(target.stop)
    assert [c[:3] for c in engine.changes()] == [
        ("POST", f"/containers/{REPLICA[n]}/stop", {"t": "150"}) for n in (1, 2, 3)
    ]
    described = await asyncio.to_thread(target.describe)
    assert described["host_cpus"] == 16 and described["docker_version"] == "24.0.7"
    assert described["service"] == "whisperlive" and described["project"] == "wlcap"


async def test_a_project_without_the_service_is_one_clear_error(engine):
    target = await _target(engine, project="billing")
    with pytest.raises(UsageError, match="no Compose container of service whisperlive of project billing"):
        await asyncio.to_thread(target.deploy, BATCH)
    assert engine.changes() == []
