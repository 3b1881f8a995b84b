"""What every collector shares: a background poller, its latest snapshot, its up gauge, its own metrics.

A `Source` knows how to read one thing (`poll`, which may block only inside a thread or await I/O) and
how to format a snapshot (`families`, pure). The `Poller` runs `poll` every interval in the background
and is itself the prometheus_client collector: `collect()` formats the latest snapshot and never waits
on the source. A failed poll clears the snapshot and reports the up gauge as 0, logged once per change.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Iterator
from typing import Generic, Protocol, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric

from exporters.families import gauge

S = TypeVar("S")
POLL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
log = logging.getLogger("exporters")


class SourceUnavailable(Exception):
    """The source answered, but has nothing to report (e.g. none of the watched processes runs)."""


class Source(Protocol[S]):
    """One thing to watch: GPUs, Docker containers, local processes, nginx."""

    name: str  # the `collector` label of the exporter's own metrics
    up_metric: str
    up_help: str

    async def poll(self) -> S:
        """Read the source; raise when it is unavailable."""
        ...

    def families(self, snapshot: S) -> Iterable[Metric]:
        """The metric families of one snapshot (pure)."""
        ...

    async def close(self) -> None:
        """Release what `poll` opened."""
        ...


class PollStats:
    """The exporter's metrics about its own polls, every collector's label set present from the start."""

    def __init__(self, registry: CollectorRegistry, collectors: Iterable[str]) -> None:
        self.duration = Histogram(
            "exporter_poll_duration_seconds",
            "Time one poll of a source took",
            ["collector"],
            buckets=POLL_BUCKETS,
            registry=registry,
        )
        self.last_poll = Gauge(
            "exporter_last_poll_timestamp_seconds",
            "Unix time the last poll of a source ended, successful or not",
            ["collector"],
            registry=registry,
        )
        self.errors = Counter(
            "exporter_poll_errors_total", "Polls that failed", ["collector"], registry=registry
        )
        for collector in collectors:
            self.duration.labels(collector)
            self.last_poll.labels(collector)
            self.errors.labels(collector)

    def record(self, collector: str, seconds: float, ok: bool) -> None:
        """Account for one finished poll."""
        self.duration.labels(collector).observe(seconds)
        self.last_poll.labels(collector).set(time.time())
        if not ok:
            self.errors.labels(collector).inc()


def _describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class Poller(Generic[S]):
    """Polls one source in the background; collects the latest snapshot."""

    def __init__(self, source: Source[S], interval_s: float, stats: PollStats) -> None:
        self.source = source
        self.interval_s = interval_s
        self.stats = stats
        self.snapshot: S | None = None
        self.up: bool | None = None  # None until the first poll has ended
        self.polled = asyncio.Event()

    async def poll_once(self) -> None:
        """Poll, keep the snapshot (or clear it on failure), log a change of state once, account for it."""
        started = time.perf_counter()
        try:
            snapshot = await self.source.poll()
        except Exception as error:  # any failure of a source is "down", never a crash of the exporter
            self.snapshot = None
            if self.up is not False:
                log.warning("%s: unavailable, %s is 0 until it recovers (%s)", self.source.name,
                            self.source.up_metric, _describe(error))
            self.up = False
        else:
            self.snapshot = snapshot
            if self.up is not True:
                log.info("%s: collecting", self.source.name)
            self.up = True
        self.stats.record(self.source.name, time.perf_counter() - started, ok=self.up)
        self.polled.set()

    async def run(self) -> None:
        """Poll every `interval_s` (measured start to start) until cancelled."""
        while True:
            started = time.monotonic()
            await self.poll_once()
            await asyncio.sleep(max(0.0, self.interval_s - (time.monotonic() - started)))

    def collect(self) -> Iterator[Metric]:
        """The up gauge, then the latest snapshot's families (none while the source is down)."""
        source = self.source
        yield gauge(source.up_metric, source.up_help, [({}, 1.0 if self.up else 0.0)])
        snapshot = self.snapshot
        if snapshot is not None:
            yield from source.families(snapshot)
