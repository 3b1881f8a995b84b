"""The control API of `loadgen serve` (aiohttp), and the client a ramp uses to drive it.

    GET  /status               target, clients alive, streaming sessions, current step
    POST /target {"clients": n, "step": i}   aim for n clients (step: optional, sets loadgen_step)
    POST /target {"rate": r, "step": i}      rate mode (`serve --arrival poisson|constant`): r sessions/s
    POST /window               start a measurement window now
    GET  /window               the window so far (the `window` object of docs/RUN_DIR.md)
    POST /record {"run_dir": "/path" | null, "shard": i}  append finished sessions to
                               run_dir/sessions.jsonl (sessions.shard-i.jsonl with "shard")
    POST /stop                 retire every client and exit

Answers are JSON; a bad request gets 400 and {"error": "..."}.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

from loadgen.core.errors import ServerUnreachable, UsageError, UserError
from loadgen.core.records import DriverStatus, WindowReading, window_start_from_json
from loadgen.live.service import LoadService

Answer = TypeVar("Answer")

SERVICE: web.AppKey[LoadService] = web.AppKey("service", LoadService)
STOP: web.AppKey[asyncio.Event] = web.AppKey("stop", asyncio.Event)


def _bad(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json() if request.can_read_body else {}
    except ValueError as exc:
        raise _bad(f"body is not JSON ({exc})") from exc
    if not isinstance(body, dict):
        raise _bad("body must be a JSON object")
    return body


def _count(body: dict[str, Any], key: str, required: bool) -> int | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _bad(f'"{key}" must be an integer >= 0, got {value!r}')
    return value


async def _status(request: web.Request) -> web.Response:
    return web.json_response((await request.app[SERVICE].status()).to_json_dict())


async def _target(request: web.Request) -> web.Response:
    body = await _body(request)
    if "rate" in body:
        rate = body["rate"]
        if isinstance(rate, bool) or not isinstance(rate, int | float) or rate < 0:
            raise _bad(f'"rate" must be a number >= 0, got {rate!r}')
        try:
            status = await request.app[SERVICE].set_rate(float(rate), _count(body, "step", False))
        except UsageError as exc:
            raise _bad(str(exc)) from exc
        return web.json_response(status.to_json_dict())
    clients = _count(body, "clients", required=True)
    assert clients is not None
    status = await request.app[SERVICE].set_target(clients, _count(body, "step", False))
    return web.json_response(status.to_json_dict())


async def _start_window(request: web.Request) -> web.Response:
    return web.json_response({"started_at": await request.app[SERVICE].start_window()})


async def _window(request: web.Request) -> web.Response:
    return web.json_response((await request.app[SERVICE].window()).to_json_dict())


async def _record(request: web.Request) -> web.Response:
    body = await _body(request)
    run_dir = body.get("run_dir")
    if run_dir is not None and not isinstance(run_dir, str):
        raise _bad('"run_dir" must be a path or null')
    shard = _count(body, "shard", required=False)
    try:
        status = await request.app[SERVICE].record_to(Path(run_dir) if run_dir else None, shard)
    except UserError as exc:
        raise _bad(str(exc)) from exc
    return web.json_response(status.to_json_dict())


async def _stop(request: web.Request) -> web.Response:
    request.app[STOP].set()
    return web.json_response({"stopping": True})


def control_app(service: LoadService, stop: asyncio.Event) -> web.Application:
    """The aiohttp application; setting `stop` is how POST /stop asks the server to exit."""
    app = web.Application()
    app[SERVICE], app[STOP] = service, stop
    app.router.add_get("/status", _status)
    app.router.add_post("/target", _target)
    app.router.add_post("/window", _start_window)
    app.router.add_get("/window", _window)
    app.router.add_post("/record", _record)
    app.router.add_post("/stop", _stop)
    return app


async def start_control(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Listen on host:port; a taken port is a usage error. Call `runner.cleanup()` to stop."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise UsageError(f"--control-port {port}: cannot listen on {host}:{port} ({exc.strerror})") from exc
    return runner


class ControlClient:
    """Drives a `loadgen serve` over its control API (a `Driver`); use as `async with`."""

    def __init__(self, base_url: str, timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ControlClient:
        self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        assert self._session is not None, "use ControlClient as an async context manager"
        url = self.base_url + path
        try:
            async with self._session.request(method, url, json=body) as response:
                data: dict[str, Any] = await response.json(content_type=None)
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            raise ServerUnreachable(
                f"cannot reach the load generator's control API at {url} ({exc or type(exc).__name__}); "
                "start `loadgen serve` or fix --control"
            ) from exc
        except (aiohttp.ContentTypeError, ValueError) as exc:
            raise UsageError(f"{url} did not answer JSON: is --control a `loadgen serve`?") from exc
        if response.status >= 400:
            raise UsageError(f"{method} {url}: {data.get('error', response.status)}")
        return data

    async def _typed(
        self, parse: Callable[[Any], Answer], method: str, path: str, body: dict[str, Any] | None = None
    ) -> Answer:
        data = await self._call(method, path, body)
        try:
            return parse(data)
        except ValueError as exc:
            url = self.base_url + path
            raise UsageError(
                f"{method} {url}: not a `loadgen serve` answer ({exc}); is --control one?"
            ) from exc

    async def status(self) -> DriverStatus:
        """GET /status."""
        return await self._typed(DriverStatus.from_json, "GET", "/status")

    async def set_target(self, clients: int, step: int | None = None) -> DriverStatus:
        """POST /target."""
        return await self._typed(
            DriverStatus.from_json, "POST", "/target", {"clients": clients, "step": step}
        )

    async def set_rate(self, rate: float, step: int | None = None) -> DriverStatus:
        """POST /target with a rate (rate mode)."""
        return await self._typed(DriverStatus.from_json, "POST", "/target", {"rate": rate, "step": step})

    async def start_window(self) -> float:
        """POST /window; the window's start."""
        return await self._typed(window_start_from_json, "POST", "/window")

    async def window(self) -> WindowReading:
        """GET /window."""
        return await self._typed(WindowReading.from_json, "GET", "/window")

    async def record_to(self, run_dir: Path | None, shard: int | None = None) -> DriverStatus:
        """POST /record (the path must be one the server can write: same host or container); with
        `shard`, into that shard's sessions file."""
        body = {"run_dir": str(run_dir) if run_dir else None, "shard": shard}
        return await self._typed(DriverStatus.from_json, "POST", "/record", body)

    async def stop(self) -> dict[str, Any]:
        """POST /stop."""
        return await self._call("POST", "/stop")
