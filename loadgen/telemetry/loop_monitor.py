"""Self-monitoring of the load generator: event-loop lag, and whether the generator itself is saturated.

A periodic timer measures how late the event loop wakes it (`loadgen_event_loop_lag_seconds`). Once per
`tick_s` the monitor reads the cumulative `loadgen_send_slip_seconds` buckets and computes the p99 over
the last `window_s` the way Prometheus' `histogram_quantile(0.99, rate(...[window]))` does, so
`loadgen_generator_saturated` is 1 exactly when the `LoadGeneratorSaturated` alert's expression holds:
that costs nothing on the send path. The window arithmetic is pure; `LoopMonitor` is the asyncio edge.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from prometheus_client import Histogram

from loadgen.telemetry.metrics import LoadgenMetrics

SATURATION_THRESHOLD_S = 0.05  # the LoadGeneratorSaturated alert's threshold on send slip p99
WINDOW_S = 60.0  # the recording rule's rate window
T = TypeVar("T")


def histogram_quantile(q: float, bounds: Sequence[float], counts: Sequence[float]) -> float | None:
    """The q-quantile of cumulative bucket `counts` (upper `bounds`, +Inf last), as Prometheus computes it.

    Linear interpolation inside the bucket that holds rank q·total (from 0 for the first bucket); a rank
    in the +Inf bucket answers the highest finite bound. None when there are no observations.
    """
    total = counts[-1]
    if total <= 0:
        return None
    rank = q * total
    for i, (bound, count) in enumerate(zip(bounds, counts, strict=True)):
        if count >= rank:
            if math.isinf(bound):
                return bounds[i - 1] if i else None
            lower, below = (bounds[i - 1], counts[i - 1]) if i else (0.0, 0.0)
            in_bucket = count - below
            return lower + (bound - lower) * ((rank - below) / in_bucket if in_bucket else 1.0)
    return None


@dataclass
class SlipWindow:
    """Snapshots of cumulative slip bucket counts; quantiles over the increase within `window_s`."""

    bounds: tuple[float, ...]
    window_s: float = WINDOW_S
    _snapshots: deque[tuple[float, tuple[float, ...]]] = field(default_factory=deque)

    def add(self, at: float, counts: Sequence[float]) -> None:
        """Record the cumulative counts read at time `at`; forget snapshots older than the window."""
        self._snapshots.append((at, tuple(counts)))
        while len(self._snapshots) > 2 and at - self._snapshots[1][0] >= self.window_s:
            self._snapshots.popleft()

    def quantile(self, q: float) -> float | None:
        """The q-quantile of the slips observed within the window (None without any)."""
        if not self._snapshots:
            return None
        (_, first), (_, last) = self._snapshots[0], self._snapshots[-1]
        if len(self._snapshots) == 1:
            first = tuple(0.0 for _ in last)
        return histogram_quantile(q, self.bounds, [b - a for a, b in zip(first, last, strict=True)])


def cumulative_buckets(histogram: Histogram) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(upper bounds, cumulative counts) of an unlabelled histogram, as a scrape would read them."""
    samples = [s for family in histogram.collect() for s in family.samples if s.name.endswith("_bucket")]
    return tuple(float(s.labels["le"]) for s in samples), tuple(s.value for s in samples)


@dataclass
class SaturationRecord:
    """What the run's console and summary say about the generator itself."""

    worst_slip_p99_s: float = 0.0
    saturated_s: float = 0.0  # time the flag was up


class LoopMonitor:
    """Exports event-loop lag and the saturation flag while a run is in progress."""

    def __init__(
        self,
        metrics: LoadgenMetrics,
        interval_s: float = 0.1,
        tick_s: float = 1.0,
        window_s: float = WINDOW_S,
        threshold_s: float = SATURATION_THRESHOLD_S,
    ) -> None:
        self.metrics = metrics
        self.interval_s = interval_s
        self.tick_s = tick_s
        self.threshold_s = threshold_s
        bounds, _ = cumulative_buckets(metrics.send_slip)
        self.window = SlipWindow(bounds, window_s)
        self.record = SaturationRecord()

    async def run(self) -> None:
        """Sample until cancelled."""
        next_tick = time.monotonic()
        while True:
            expected = time.monotonic() + self.interval_s
            await asyncio.sleep(self.interval_s)
            now = time.monotonic()
            self.metrics.event_loop_lag.observe(max(0.0, now - expected))
            if now >= next_tick:
                self.check_saturation(now)
                next_tick = now + self.tick_s

    def check_saturation(self, now: float) -> None:
        """Read the slip buckets, update the window and set `loadgen_generator_saturated`."""
        self.window.add(now, cumulative_buckets(self.metrics.send_slip)[1])
        p99 = self.window.quantile(0.99)
        saturated = p99 is not None and p99 > self.threshold_s
        self.metrics.generator_saturated.set(1 if saturated else 0)
        if p99 is not None:
            self.record.worst_slip_p99_s = max(self.record.worst_slip_p99_s, p99)
        if saturated:
            self.record.saturated_s += self.tick_s


async def monitored(work: Coroutine[Any, Any, T], monitor: LoopMonitor) -> T:
    """Await `work` with `monitor` running beside it; the monitor stops when the work ends."""
    task = asyncio.create_task(monitor.run())
    try:
        return await work
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
