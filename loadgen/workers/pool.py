"""`ramp`/`soak --workers K`: K `loadgen serve` workers driven as one `Driver`.

Targets split with the shards' rule (the first `clients % K` workers one more), windows merge exactly
from their HdrHistograms (loadgen.core.shards.merge_windows), and each worker records its sessions into its
own shard file of the run directory, which readers merge.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from loadgen.core.errors import ServerUnreachable, UsageError
from loadgen.core.records import DriverStatus, Shard, WindowReading
from loadgen.core.shards import merge_windows
from loadgen.live.control import ControlClient
from loadgen.workers.spawn import Worker

READY_TIMEOUT_S = 60.0  # a worker loads the corpus before its control API answers
Answer = TypeVar("Answer")


def merge_status(statuses: Sequence[DriverStatus]) -> DriverStatus:
    """The workers' statuses as one (pure): counts add, the rest is the first worker's."""
    started = [s.window_started_at for s in statuses if s.window_started_at is not None]
    return replace(
        statuses[0],
        target=sum(s.target for s in statuses),
        clients=sum(s.clients for s in statuses),
        retiring=sum(s.retiring for s in statuses),
        active=sum(s.active for s in statuses),
        sessions_ended=sum(s.sessions_ended for s in statuses),
        window_started_at=min(started, default=None),
        rate=None if statuses[0].rate is None else sum(s.rate or 0.0 for s in statuses),
    )


def merge_window_answers(answers: Sequence[WindowReading]) -> WindowReading:
    """The workers' windows as one (pure): the windows merged like shards' windows."""
    return WindowReading(
        started_at=min(a.started_at for a in answers),
        target=sum(a.target for a in answers),
        active=sum(a.active for a in answers),
        window=merge_windows([a.window for a in answers]),
    )


class WorkerPool:
    """K `loadgen serve` workers driven as one `Driver`: every call fans out; answers merge."""

    def __init__(self, clients: Sequence[ControlClient]) -> None:
        self.clients = list(clients)

    async def _all(self, call: Callable[[int, ControlClient], Awaitable[Answer]]) -> list[Answer]:
        return list(await asyncio.gather(*(call(i, c) for i, c in enumerate(self.clients))))

    async def status(self) -> DriverStatus:
        """Every worker's status, merged."""
        return merge_status(await self._all(lambda _, c: c.status()))

    async def set_target(self, clients: int, step: int | None = None) -> DriverStatus:
        """Worker i aims for its share of `clients` (the shards' rule: the first ones one more)."""
        count = len(self.clients)
        return merge_status(await self._all(lambda i, c: c.set_target(Shard(i, count).share(clients), step)))

    async def set_rate(self, rate: float, step: int | None = None) -> DriverStatus:
        """Each worker starts sessions at `rate`/K per second (K Poisson processes add up to one)."""
        count = len(self.clients)
        return merge_status(await self._all(lambda _, c: c.set_rate(rate / count, step)))

    async def start_window(self) -> float:
        """A window starts on every worker (within milliseconds of each other): the earliest start."""
        return min(await self._all(lambda _, c: c.start_window()))

    async def window(self) -> WindowReading:
        """The current window of every worker, merged."""
        return merge_window_answers(await self._all(lambda _, c: c.window()))

    async def record_to(self, run_dir: Path | None, shard: int | None = None) -> DriverStatus:
        """Worker i appends its sessions to `run_dir`/sessions.shard-i.jsonl (merged on read): the pool
        is sharded already, so it cannot be one shard of a larger run (`shard` must be None)."""
        if shard is not None:
            raise UsageError(
                f"a pool of workers records one shard file per worker; it cannot be shard {shard}"
            )
        return merge_status(await self._all(lambda i, c: c.record_to(run_dir, shard=i)))

    async def stop(self) -> None:
        """Ask every worker that still answers to retire its clients and exit."""
        for client in self.clients:
            try:
                await client.stop()
            except (ServerUnreachable, UsageError):
                continue  # already gone (Ctrl-C reaches the workers too)


async def wait_ready(workers: Sequence[Worker], clients: Sequence[ControlClient]) -> None:
    """Until every worker's control API answers; a worker that exits or stays silent is a usage error."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    for worker, client in zip(workers, clients, strict=True):
        while True:
            try:
                await client.status()
                break
            except ServerUnreachable:
                if not worker.process.is_alive() or time.monotonic() > deadline:
                    raise UsageError(
                        f"load-generator worker {worker.index} did not start: "
                        f"{worker.log_tail() or 'no output'} (log: {worker.log})"
                    ) from None
                await asyncio.sleep(0.2)
