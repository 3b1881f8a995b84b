"""A load generator that stays up: a client pool, its metrics and the current measurement window.

`LoadService` is what `loadgen serve` exposes over HTTP (loadgen.live.control) and what an in-process ramp
drives directly; both speak the same `Driver` calls, whose answers are the records (loadgen.core.records)
that the control API sends as JSON.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from loadgen.core.arrivals import CLOSED, arrival_stream
from loadgen.core.errors import UsageError
from loadgen.core.records import CorpusInfo, DriverStatus, WindowReading
from loadgen.core.session_result import STOPPED, SessionResult
from loadgen.core.window import Connect, Window
from loadgen.data.corpus import Corpus
from loadgen.data.results_file import JsonlWriter
from loadgen.data.run_dir import SESSIONS, RunDir
from loadgen.live.arrivals import ArrivalLauncher
from loadgen.live.pool import STOPPED_KIND, ClientPool, PoolShape
from loadgen.live.runner import ResultSink, SessionLauncher
from loadgen.live.session import SessionSettings
from loadgen.telemetry.metrics import LoadgenMetrics, StreamObservers


class Driver(Protocol):
    """What a ramp needs from a load generator, in process or over HTTP. mypy checks `LoadService`,
    `ControlClient` and `WorkerPool` against it where loadgen.cli.commands.driving yields each as one."""

    async def status(self) -> DriverStatus:
        """Target, clients alive, streaming sessions, current step."""

    async def set_target(self, clients: int, step: int | None = None) -> DriverStatus:
        """Aim for `clients` (and say which ramp step this is); returns the status."""

    async def set_rate(self, rate: float, step: int | None = None) -> DriverStatus:
        """Rate mode: start sessions at `rate` per second from now (0: none); returns the status."""

    async def start_window(self) -> float:
        """Start a new measurement window now; returns its start (unix seconds)."""

    async def window(self) -> WindowReading:
        """The current window (docs/RUN_DIR.md's `window` object) plus its start, target and active."""

    async def record_to(self, run_dir: Path | None, shard: int | None = None) -> DriverStatus:
        """Append finished sessions to `run_dir`/sessions.jsonl from now on, or with `shard` to that
        shard's sessions.shard-`shard`.jsonl (None: stop)."""


class WindowedMetrics(LoadgenMetrics):
    """The load generator's metrics, whose live samples also feed the current window."""

    def __init__(self) -> None:
        super().__init__()
        self.window = Window(time.time())

    def stream_observers(self, replica: str) -> StreamObservers:
        """Prometheus observers of the stream, teed into whatever window is current at sample time."""
        base = super().stream_observers(replica)

        def tee(kind: str, observe: Callable[[float], None]) -> Callable[[float], None]:
            def both(value: float) -> None:
                observe(value)
                self.window.sample(kind, time.time(), value)

            return both

        def transcribed(seconds: float) -> None:
            base.transcribed(seconds)
            self.window.transcribed(time.time(), replica, seconds)

        return StreamObservers(
            tee("transcript_lag", base.transcript_lag),
            tee("finalization_lag", base.finalization_lag),
            tee("send_slip", base.send_slip),
            transcribed,
        )


class LoadService:
    """Pool + window; use as `async with LoadService(...) as service:`."""

    def __init__(
        self,
        settings: SessionSettings,
        corpus: Corpus,
        shape: PoolShape,
        metrics: WindowedMetrics,
        sinks: Sequence[ResultSink] = (),
    ) -> None:
        self.metrics = metrics
        self.url = settings.url
        self.corpus = CorpusInfo(
            str(corpus.root), corpus.layout, len(corpus.utterances), round(corpus.duration_s, 3)
        )
        self.launcher = SessionLauncher(settings, metrics, [self._ended, *sinks], shape.gap_s, self._ready)
        self.pool = ClientPool(self.launcher, corpus, shape)
        self.arrivals = ArrivalLauncher(
            self.launcher, corpus, shape.gap_s, shape.max_concurrency, shape.speech, self._dropped
        )
        self.rate: float | None = None
        self._rng = random.Random(shape.seed)
        self._replay: asyncio.Task[None] | None = None
        self.step: int | None = None
        self.sessions_ended = 0
        self._connects_from: float | None = None  # when the target changed, until a window starts
        self._connects: list[Connect] = []  # connection attempts since then
        self._streaming: dict[str, SessionResult] = {}  # measured sessions past SERVER_READY, by uid
        self._recorder: JsonlWriter | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LoadService:
        self._task = asyncio.create_task(self.pool.run(), name="pool")
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self._stop_arrivals()  # re-raises an arriving session's crash: still close the rest
        finally:
            await self.arrivals.stop(STOPPED_KIND)
            await self.pool.close()
            await self.record_to(None)
        if self._task is not None:
            self._task.cancel()
            (crash,) = await asyncio.gather(self._task, return_exceptions=True)
            if isinstance(crash, Exception):
                raise crash  # a client crashed: a bug, not a measurement

    def _ready(self, result: SessionResult) -> None:  # measured sessions only (the launcher's on_ready)
        now = time.time()
        self._note_connect(Connect.of(now, result))
        self.metrics.window.streams(now, self.launcher.streams)
        self.metrics.window.streamed(result)
        self._streaming[result.uid] = result

    def _note_connect(self, attempt: Connect) -> None:
        self.metrics.window.connect(attempt)
        if self._connects_from is not None:  # kept only between a target change and its first window
            self._connects.append(attempt)

    def _ended(self, result: SessionResult) -> None:
        if result.idle:  # recorded, never judged
            if self._recorder is not None:
                self._recorder.write(result)
            return
        now = time.time()
        self._streaming.pop(result.uid, None)
        window = self.metrics.window
        window.streams(now, self.launcher.streams)
        window.session_ended(now, result)
        if result.server_ready_s is None and result.outcome != STOPPED:
            self._note_connect(Connect.of(now, result))
        self.sessions_ended += 1
        wer = window.wer()
        if not math.isnan(wer):
            self.metrics.step_wer.set(wer)
        if self._recorder is not None:
            self._recorder.write(result)

    async def status(self) -> DriverStatus:
        """Target, clients alive, streaming sessions, step, window start, sessions ended so far."""
        return DriverStatus(
            url=self.url,
            mode=self.pool.shape.mode,
            corpus=self.corpus,
            target=self.pool.target,
            clients=self.pool.clients + len(self.arrivals.in_flight),
            retiring=self.pool.retiring,
            active=self.launcher.streams,
            step=self.step,
            window_started_at=self.metrics.window.started_at,
            sessions_ended=self.sessions_ended,
            recording=str(self._recorder.path) if self._recorder else None,
            rate=self.rate,
        )

    async def set_target(self, clients: int, step: int | None = None) -> DriverStatus:
        """Aim for `clients`; `step` (when given) becomes `loadgen_step`."""
        self.pool.set_target(clients)
        return await self._new_step(step)

    async def set_rate(self, rate: float, step: int | None = None) -> DriverStatus:
        """Rate mode: sessions arrive at `rate` per second from now, each of a drawn length, at most
        `max_concurrency` in flight (0: no more arrivals; sessions in flight go on to their end)."""
        shape = self.pool.shape
        if shape.arrival == CLOSED:
            raise UsageError(
                "this generator runs closed clients: start it with --arrival poisson or constant"
            )
        if not rate >= 0:
            raise UsageError(f"the arrival rate must be >= 0, got {rate}")
        await self._stop_arrivals()
        self.rate = rate
        if rate > 0:
            stream = arrival_stream(shape.arrival, rate, shape.session_length, self._rng)
            self._replay = asyncio.create_task(
                self.arrivals.replay(stream, time.monotonic()), name="arrivals"
            )
        return await self._new_step(step)

    async def _stop_arrivals(self) -> None:
        if self._replay is not None:
            self._replay.cancel()
            (crash,) = await asyncio.gather(self._replay, return_exceptions=True)
            self._replay = None
            if isinstance(crash, Exception):
                raise crash  # a session crashed: a bug, not a measurement

    async def _new_step(self, step: int | None) -> DriverStatus:
        """Connections count from now; `step` (when given) becomes `loadgen_step`."""
        self._connects_from, self._connects = time.time(), []
        if step is not None:
            self.step = step
            self.metrics.step.set(step)
        return await self.status()

    def _dropped(self) -> None:
        self.metrics.window.arrival_dropped(time.time())

    async def start_window(self) -> float:
        """Start a new measurement window now; returns its start."""
        now = time.time()
        # the first window after a target change also counts the connections made since that change
        since = self._connects_from if self._connects_from is not None else now
        dropped = None if self.pool.shape.arrival == CLOSED else 0  # rate mode counts dropped arrivals
        window = Window(now, self.launcher.streams, connects_from=since, arrivals_dropped=dropped)
        for attempt in self._connects if self._connects_from is not None else []:
            window.connect(attempt)
        self._connects_from, self._connects = None, []
        for result in self._streaming.values():
            window.streamed(result)
        self.metrics.window = window
        self.metrics.step_wer.set(math.nan)
        return now

    async def window(self) -> WindowReading:
        """The current window, measured until now."""
        window = self.metrics.window
        return WindowReading(
            window.started_at, self.pool.target, self.launcher.streams, window.snapshot(time.time())
        )

    async def record_to(self, run_dir: Path | None, shard: int | None = None) -> DriverStatus:
        """Append finished sessions to `run_dir`/sessions.jsonl, or with `shard` to that shard's file
        (None: stop recording)."""
        if self._recorder is not None:
            self._recorder.close()
            self._recorder = None
        if run_dir is not None:
            self._recorder = RunDir(run_dir, shard).create().writer(SESSIONS)
        return await self.status()
