"""The exporter process: one poller per source in the background, `/metrics` served by aiohttp."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry

from exporters.exposition import CONTENT_TYPE, render
from exporters.poller import Poller, PollStats, Source

log = logging.getLogger("exporters")


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound now so that a taken port fails at start (OSError)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family)


def metrics_app(registry: CollectorRegistry) -> web.Application:
    """`GET /metrics`: the latest snapshots, formatted; never waits on a source."""

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=render(registry), headers={"Content-Type": CONTENT_TYPE})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    return app


async def _first_round(pollers: Sequence[Poller[Any]], timeout_s: float) -> None:
    """Wait (at most `timeout_s`) until every source was polled once, so the first scrape has data."""
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(p.polled.wait() for p in pollers)), timeout_s)


async def serve(sources: Sequence[Source[Any]], sock: socket.socket, interval_s: float,
                stop: asyncio.Event) -> None:
    """Poll `sources` every `interval_s` and serve `/metrics` on `sock` until `stop` is set."""
    registry = CollectorRegistry()
    stats = PollStats(registry, [source.name for source in sources])
    pollers = [Poller(source, interval_s, stats) for source in sources]
    for poller in pollers:
        registry.register(poller)
    tasks = [asyncio.create_task(p.run(), name=f"poll-{p.source.name}") for p in pollers]
    runner = web.AppRunner(metrics_app(registry), access_log=None)
    try:
        await _first_round(pollers, interval_s)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        host, port = sock.getsockname()[:2]
        log.info("serving http://%s:%d/metrics (%s)", host, port, ", ".join(s.name for s in sources))
        await stop.wait()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await runner.cleanup()
        for source in sources:
            await source.close()
