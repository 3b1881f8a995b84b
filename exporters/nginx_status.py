"""nginx `stub_status`, exported under nginx-prometheus-exporter's names and types.

That exporter declares `nginx_connections_accepted` and `nginx_connections_handled` as counters without
the `_total` suffix; we keep its exact names (see `exporters.families.ExactNameCounter` and README.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import aiohttp
from prometheus_client.metrics_core import Metric

from exporters.families import counter, exact_counter, gauge

_STUB_STATUS = re.compile(
    r"Active connections:\s*(\d+)\s+"
    r"server accepts handled requests\s+(\d+)\s+(\d+)\s+(\d+)\s+"
    r"Reading:\s*(\d+)\s+Writing:\s*(\d+)\s+Waiting:\s*(\d+)"
)


@dataclass(frozen=True)
class StubStatus:
    """The seven numbers of a stub_status page."""

    active: int
    accepted: int
    handled: int
    requests: int
    reading: int
    writing: int
    waiting: int


def parse_stub_status(text: str) -> StubStatus:
    """A stub_status page; ValueError for anything else."""
    match = _STUB_STATUS.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not an nginx stub_status page: {text[:60]!r}")
    return StubStatus(*map(int, match.groups()))


def nginx_families(status: StubStatus) -> list[Metric]:
    """The families nginx-prometheus-exporter derives from stub_status."""
    return [
        gauge("nginx_connections_active", "Active client connections", [({}, status.active)]),
        exact_counter("nginx_connections_accepted", "Accepted client connections", [({}, status.accepted)]),
        exact_counter("nginx_connections_handled", "Handled client connections", [({}, status.handled)]),
        gauge("nginx_connections_reading", "Connections where NGINX is reading the request header",
              [({}, status.reading)]),
        gauge("nginx_connections_writing",
              "Connections where NGINX is writing the response back to the client", [({}, status.writing)]),
        gauge("nginx_connections_waiting", "Idle client connections", [({}, status.waiting)]),
        counter("nginx_http_requests_total", "Total http requests", [({}, status.requests)]),
    ]


class NginxSource:
    """One nginx stub_status URL, fetched with aiohttp."""

    name = "nginx"
    up_metric = "nginx_up"
    up_help = "Status of the last metric scrape"

    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        self._url = url
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def poll(self) -> StubStatus:
        """Fetch and parse the status page."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        async with self._session.get(self._url) as response:
            response.raise_for_status()
            return parse_stub_status(await response.text())

    def families(self, snapshot: StubStatus) -> Iterable[Metric]:
        """The `nginx_*` families."""
        return nginx_families(snapshot)

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
