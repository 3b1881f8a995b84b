"""A pool of clients whose target count can change at any time.

New clients start at most `connect_rate` per second; when the target drops, the clients with the highest
ids are retired at once (their session is cancelled and recorded as `stopped`, kind `retired`). Each client
runs sessions back to back: one file per session, or continuous sessions of about `session_length` seconds
(a distribution: each session draws its length from the client's own seeded generator).
Sessions are launched by the runner's `SessionLauncher`, the same code `loadgen run` uses.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from dataclasses import dataclass, field

from loadgen.core.arrivals import CLOSED, FIXED, SessionLength
from loadgen.core.session_result import SUCCESSES
from loadgen.core.speech import DEFAULT_SEED, SpeechActivity
from loadgen.data.corpus import Corpus
from loadgen.live.runner import IDLE_END, PER_FILE, IdleClients, SessionLauncher, session_audio

SIXTY_SECONDS = SessionLength(FIXED, 60.0)
RETIRED, STOPPED_KIND = "retired", "stopped"  # error_kind of sessions the pool ended


@dataclass(frozen=True)
class PoolShape:
    """How the pool's clients connect and what they stream."""

    mode: str = PER_FILE
    connect_rate: float = 5.0  # new clients per second
    session_length: SessionLength = SIXTY_SECONDS  # continuous mode: audio per session
    gap_s: float = 1.0  # continuous mode: silence between files
    retry_s: float = 1.0  # pause after a failed session before the client tries again
    speech: SpeechActivity | None = None  # continuous mode: talk spurts and pauses instead of the gap
    idle: IdleClients = field(default_factory=lambda: IdleClients())
    seed: int = DEFAULT_SEED  # of the session lengths: client i draws from its own generator
    arrival: str = CLOSED  # poisson or constant: sessions arrive at a rate (LoadService.set_rate)
    max_concurrency: int | None = None  # rate mode: an arrival finding this many in flight is dropped


class ClientPool:
    """Clients started and retired to follow `target`; run `run()` as a task, then `close()`."""

    def __init__(self, launcher: SessionLauncher, corpus: Corpus, shape: PoolShape) -> None:
        self.launcher = launcher
        self.corpus = corpus
        self.shape = shape
        self.target = 0
        self._clients: dict[int, asyncio.Task[None]] = {}
        self._retiring: set[asyncio.Task[None]] = set()  # cancelled, their session not yet recorded
        self._idle: list[asyncio.Task[None]] = []  # the idle clients, from `run` until `close`
        self._wake = asyncio.Event()
        self._failure: BaseException | None = None

    @property
    def clients(self) -> int:
        """Client tasks alive (connecting, streaming or pausing between sessions)."""
        return len(self._clients)

    @property
    def retiring(self) -> int:
        """Retired clients whose last session is still being closed and recorded."""
        return len(self._retiring)

    def set_target(self, clients: int) -> None:
        """Aim for `clients`; excess clients are retired now, missing ones start at the connect rate."""
        if clients < 0:
            raise ValueError(f"target clients must be >= 0, got {clients}")
        self.target = clients
        self.launcher.metrics.target_clients.set(clients)
        for client in sorted(self._clients, reverse=True)[: max(0, len(self._clients) - clients)]:
            task = self._clients.pop(client)
            task.cancel(RETIRED)
            self._retiring.add(task)
        self._wake.set()

    async def run(self) -> None:
        """Start clients while below target, one per 1/connect_rate seconds (the idle clients first, at once);
        raises a client's crash."""
        idle = self.shape.idle
        for client in range(idle.count):
            idle_run = self.launcher.run_idle(client, idle.mode, self.shape.retry_s)
            task = asyncio.create_task(idle_run, name=f"idle-{client}")
            task.add_done_callback(self._done)
            self._idle.append(task)
        while True:
            if self._failure is not None:
                raise self._failure
            if len(self._clients) < self.target:
                self._start(next(i for i in itertools.count() if i not in self._clients))
                await asyncio.sleep(1 / self.shape.connect_rate)
            else:
                self._wake.clear()
                await self._wake.wait()

    async def close(self) -> None:
        """Retire every client and wait until their sessions are recorded."""
        self.target = 0
        tasks = list(self._clients.values())
        self._clients.clear()
        for task in tasks:
            task.cancel(STOPPED_KIND)
        for task in self._idle:
            task.cancel(IDLE_END)
        await asyncio.gather(*tasks, *self._retiring, *self._idle, return_exceptions=True)
        self._idle.clear()

    def _start(self, client: int) -> None:
        task = asyncio.create_task(self._client(client), name=f"client-{client}")
        self._clients[client] = task
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._retiring.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._failure = task.exception()
            self._wake.set()

    async def _client(self, client: int) -> None:
        shape = self.shape
        rng = random.Random(f"{shape.seed}:{client}")
        for seq in itertools.count():
            length = shape.session_length.sample(rng)
            audio = session_audio(self.corpus, shape.mode, client, seq, length, shape.gap_s, shape.speech)
            result = await self.launcher.run(client, seq, audio)
            if result.outcome not in SUCCESSES:
                await asyncio.sleep(self.shape.retry_s)
