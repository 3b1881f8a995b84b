"""StreamSession: the only code that touches a WebSocket.

One session = connect, send the options, wait for SERVER_READY, stream the plan's chunks on the live
clock while the connection's messages feed the tracker as they arrive (a callback from the WebSocket
client, `loadgen.live.ws_client`: no receiver task, no await per message; a per-connection timer watches for
stalls), stream real-time silence until the transcript settles (WhisperLive 0.10.0 drops untranscribed
audio at END_OF_AUDIO), then END_OF_AUDIO and close. Everything measured lands in the `SessionResult`,
whatever goes wrong.

With a `ReconnectPolicy`, a connection that drops mid-stream (closed, DISCONNECT, stalled, pings
unanswered) is reopened through the balancer with the same uid and options (upstream keys clients by
socket, not uid); the stream resumes where the session's original live clock is now, the gap is lost.
Every handshake has a timeout and the socket sends pings: a paused replica still accepts TCP, only
timeouts reveal it.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from itertools import chain

from loadgen.core.clock import LiveClock
from loadgen.core.kpi import word_errors
from loadgen.core.protocol import (
    END_OF_AUDIO,
    MAX_MESSAGE_BYTES,
    REPLICA_HEADER,
    SAMPLE_RATE,
    UPSTREAM_HEADER,
    Disconnect,
    Malformed,
    Ready,
    Segments,
    ServerError,
    ServerWarning,
    StreamDecoder,
    StreamOptions,
    Unknown,
    Wait,
)
from loadgen.core.reconnect import ReconnectPolicy, resume_chunks
from loadgen.core.session_result import DROPPED, ERROR, OK, RECOVERED, REFUSED, SessionResult
from loadgen.core.stream_audio import Chunk, StreamPlan, chunks, silence
from loadgen.core.tracker import TranscriptTracker
from loadgen.live.ws_client import (
    DEFAULT_CLIENT,
    Closed,
    ConnectFailed,
    Connection,
    ConnectionLost,
    ConnectOptions,
    UpgradeRejected,
    connect,
)
from loadgen.telemetry.metrics import UNKNOWN_REPLICA, LoadgenMetrics, StreamObservers


@dataclass(frozen=True)
class SessionSettings:
    """How every session of a run connects and streams."""

    url: str
    options: StreamOptions
    chunk_s: float = 0.256
    settle_s: float = 3.0
    max_tail_s: float = 20.0
    open_timeout_s: float = 10.0
    ready_timeout_s: float = 60.0
    api_key: str | None = None  # sent as upstream expects it: `Authorization: Bearer KEY`
    reconnect: ReconnectPolicy | None = None  # None: a dropped session ends as dropped
    stall_timeout_s: float = 30.0  # no transcript for this long while speech flows: the server stalled
    ping_interval_s: float = 5.0
    ping_timeout_s: float = 10.0
    ws_client: str = DEFAULT_CLIENT  # the WebSocket library under the session (ws_client.CLIENTS)

    @property
    def chunk_samples(self) -> int:
        """Samples per chunk."""
        return round(self.chunk_s * SAMPLE_RATE)

    @property
    def headers(self) -> dict[str, str]:
        """Extra headers of the WebSocket upgrade."""
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    @property
    def connect_options(self) -> ConnectOptions:
        """How each connection is opened and kept alive."""
        return ConnectOptions(
            headers=self.headers,
            open_timeout_s=self.open_timeout_s,
            ping_interval_s=self.ping_interval_s,
            ping_timeout_s=self.ping_timeout_s,
            max_message_bytes=MAX_MESSAGE_BYTES,
        )


@dataclass(frozen=True)
class Failure:
    """Why a connection attempt or a connection ended; `recoverable`: a reconnect may fix it."""

    outcome: str
    kind: str
    detail: str
    recoverable: bool = False


@dataclass(frozen=True)
class Opened:
    """A connection that reached SERVER_READY."""

    link: _Connection
    replica: str | None
    connect_s: float
    ready_at: float
    server_ready_s: float


class _Connection:
    """One connection's receiving side: the handshake, then every message as it arrives, the stall
    watchdog, and the state its sender reads. Its WebSocket client calls `on_message`/`on_closed`."""

    ws: Connection  # set once connected
    observers: StreamObservers  # set when streaming starts

    def __init__(self, session: StreamSession) -> None:
        self.session = session
        self.loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[float | Failure] = self.loop.create_future()
        self.tracker: TranscriptTracker | None = None  # set when streaming starts
        self.early: list[tuple[float, str | bytes]] = []  # messages after SERVER_READY, before streaming
        self.server_done = False
        self.ended_by_client = False
        self.in_tail = False
        self.failure: Failure | None = None
        self.progress_at = 0.0  # loop time of the last transcript (or of the start, or of a tail stall)
        self._waiter: asyncio.Future[None] | None = None
        self._stall_timer: asyncio.TimerHandle | None = None

    # Callbacks from the WebSocket client.

    def on_message(self, data: str | bytes) -> None:
        """Handshake messages resolve `ready`; then each message feeds the tracker at once."""
        received_at = time.monotonic()
        if self.tracker is not None:
            self._handle(received_at, data)
        elif self.ready.done():
            self.early.append((received_at, data))
        else:
            event = self.session._decoder.decode(data)
            if isinstance(event, Ready):
                self.ready.set_result(received_at)
            elif (failure := self.session._handshake_event(event)) is not None:
                self.ready.set_result(failure)

    def on_closed(self, closed: Closed) -> None:
        """The connection ended: before SERVER_READY a failed handshake, after it maybe a drop."""
        if not self.ready.done():
            detail = f"closed before SERVER_READY ({closed.detail})"
            self.ready.set_result(Failure(ERROR, "closed_in_handshake", detail))
        elif not self.ended_by_client and self.failure is None:
            self.failure = closed_failure(closed)
            if closed.too_big:
                self.session._count_protocol_error("oversized")
        self.end()

    # Streaming.

    def start(self, tracker: TranscriptTracker, observers: StreamObservers) -> None:
        """Streaming begins: feed `tracker` from now on (and what came early), arm the stall watchdog."""
        self.tracker, self.observers = tracker, observers
        self.progress_at = self.loop.time()
        self._arm(self.progress_at + self.session.settings.stall_timeout_s)
        early, self.early = self.early, []
        for received_at, data in early:
            self._handle(received_at, data)

    def _handle(self, received_at: float, data: str | bytes) -> None:
        """One message while streaming; each transcript is progress, an error or DISCONNECT ends it."""
        if self.server_done:
            return  # the stream already ended (server error, DISCONNECT, stall)
        event = self.session._decoder.decode(data)
        if isinstance(event, Segments):
            self.progress_at = self.loop.time()
            self.session._observe(self, received_at, event)
        elif isinstance(event, ServerError):
            self.fail(Failure(ERROR, "server_error", event.message))
        elif isinstance(event, Disconnect):
            self.fail(Failure(DROPPED, "server_disconnect", "server sent DISCONNECT mid-stream", True))
        else:
            self.session._note(event)

    def _arm(self, when: float) -> None:
        self._stall_timer = self.loop.call_at(when, self._check_stall)

    def _check_stall(self) -> None:
        """The stall deadline passed: re-arm from the last transcript, or fail the connection.

        One timer per connection, not one per message: it is set again from the last transcript only
        when it fires (about once per stall timeout)."""
        if self.server_done:
            return
        stall_s = self.session.settings.stall_timeout_s
        now = self.loop.time()
        if self.progress_at + stall_s > now:
            self._arm(self.progress_at + stall_s)  # a transcript arrived since the deadline was set
        elif self.in_tail:  # trailing silence: the sender ends the stream itself
            self.progress_at = now
            self._arm(now + stall_s)
        else:
            self.fail(Failure(ERROR, "stalled", f"no transcript for {stall_s:g} s while audio flowed", True))

    def fail(self, failure: Failure) -> None:
        """End the stream with `failure` (the first one counts)."""
        if self.failure is None:
            self.failure = failure
        self.end()

    async def sleep_until(self, when: float) -> None:
        """Wait until loop time `when`, or less if the server ends the stream meanwhile.

        One future and one timer per wait: cheaper than a Timeout around an Event (bench/pacing.py).
        """
        waiter = self._waiter = self.loop.create_future()
        handle = self.loop.call_at(when, _wake, waiter)
        try:
            await waiter
        finally:
            handle.cancel()
            self._waiter = None

    def end(self) -> None:
        """The stream ended (server, stall, close): stop the watchdog, wake the sender at once."""
        self.server_done = True
        if self._stall_timer is not None:
            self._stall_timer.cancel()
        if self._waiter is not None:
            _wake(self._waiter)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def serving_replica(header_value: str | None, replica_name: str | None = None) -> str | None:
    """The replica that served the upgrade: the name it announced (`X-Replica`, the pod name on
    Kubernetes), else the balancer's `X-Upstream` address (after a retry it lists several: the last)."""
    if replica_name and replica_name.strip():
        return replica_name.strip()
    if not header_value:
        return None
    return header_value.split(",")[-1].strip() or None


def closed_failure(closed: Closed) -> Failure:
    """Classify a connection that closed under us mid-stream."""
    if closed.too_big:
        return Failure(ERROR, "oversized_message", f"server message above {MAX_MESSAGE_BYTES} bytes")
    detail = f"connection closed mid-stream ({closed.detail})"
    return Failure(DROPPED, "closed_mid_stream", detail, recoverable=True)


class StreamSession:
    """Streams one plan to the server and records what happened."""

    def __init__(
        self,
        settings: SessionSettings,
        plan: StreamPlan,
        result: SessionResult,
        reference: str | None,
        metrics: LoadgenMetrics,
        on_ready: Callable[[], None] = lambda: None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.on_ready = on_ready
        self.plan = plan
        self.result = result
        self.reference = reference
        self.options = replace(settings.options, uid=result.uid)
        self._feed: Iterator[Chunk] = chunks(plan, settings.chunk_samples)
        self._sent_until_s = 0.0  # plan position of the end of the last chunk sent
        self._tail_position_s = plan.duration_s
        self._attempts = 0  # reconnect attempts made, all drops together
        self._rng = random.Random(result.uid)
        self._decoder = StreamDecoder(result.uid)

    @staticmethod
    def now() -> float:
        """The monotonic clock every timing of a session uses."""
        return time.monotonic()

    async def run(self) -> SessionResult:
        """Run the session to its end; never raises for anything the server or network does."""
        opened = await self._open()
        if isinstance(opened, Failure):
            self.result.fail(opened.outcome, opened.kind, opened.detail)
            return self.result
        r = self.result
        r.connect_s, r.server_ready_s = opened.connect_s, opened.server_ready_s
        r.replicas.append(opened.replica or UNKNOWN_REPLICA)
        self.on_ready()
        clock = LiveClock(opened.ready_at)
        tracker = TranscriptTracker(clock)
        try:
            await self._stream_all(opened.link, clock, tracker)
        finally:
            self._finish(clock, tracker)
        return self.result

    # Connecting.

    async def _open(self) -> Opened | Failure:
        """Connect and wait for SERVER_READY, every step under its timeout."""
        started = self.now()
        link = _Connection(self)
        settings = self.settings
        try:
            ws = link.ws = await connect(settings.ws_client, settings.url, link, settings.connect_options)
        except UpgradeRejected as exc:
            hint = ": wrong or missing --api-key" if exc.status in (401, 403) else ""
            return Failure(ERROR, "handshake_rejected", f"HTTP {exc.status} on upgrade{hint}")
        except TimeoutError:
            detail = f"no WebSocket upgrade within {settings.open_timeout_s} s"
            return Failure(ERROR, "connect_timeout", detail)
        except ConnectFailed as exc:
            return Failure(ERROR, "connect_failed", str(exc))
        connected = self.now()
        headers = ws.headers
        replica = serving_replica(headers.get(UPSTREAM_HEADER), headers.get(REPLICA_HEADER))
        if self.result.replica is None:
            self.result.replica = replica  # the first connection's replica, even when it refuses
        ready = await self._handshake(link, ws)
        if isinstance(ready, Failure):
            await ws.close()
            return ready
        return Opened(link, replica, connected - started, ready, ready - connected)

    async def _handshake(self, link: _Connection, ws: Connection) -> float | Failure:
        """Send the options and wait for SERVER_READY; return when it arrived."""
        try:
            await ws.send(self.options.to_json())
            async with asyncio.timeout(self.settings.ready_timeout_s):
                return await link.ready
        except TimeoutError:
            detail = f"no SERVER_READY within {self.settings.ready_timeout_s} s"
            return Failure(ERROR, "ready_timeout", detail)
        except ConnectionLost as exc:
            return Failure(ERROR, "closed_in_handshake", f"closed before SERVER_READY ({exc})")

    def _handshake_event(self, event: object) -> Failure | None:
        """Handle a non-READY message during the handshake; a Failure ends the attempt."""
        if isinstance(event, Wait):
            return Failure(REFUSED, "wait", f"server full or overloaded (WAIT {event.minutes:.1f} min)")
        if isinstance(event, ServerError):
            return Failure(ERROR, "server_error", event.message)
        if isinstance(event, Disconnect):
            return Failure(ERROR, "disconnect_in_handshake", "DISCONNECT before SERVER_READY")
        self._note(event)
        return None

    def _note(self, event: object) -> None:
        """Record a message that neither ends nor advances the stream."""
        if isinstance(event, ServerWarning):
            self.result.warnings.append(event.message)
        elif isinstance(event, Malformed):
            self._count_protocol_error(event.kind)
        elif isinstance(event, Unknown):
            self._count_protocol_error("unknown_type")

    def _count_protocol_error(self, kind: str) -> None:
        self.result.protocol_errors[kind] = self.result.protocol_errors.get(kind, 0) + 1

    # Reconnecting.

    async def _stream_all(self, link: _Connection, clock: LiveClock, tracker: TranscriptTracker) -> None:
        """Stream on `link`, and on each new connection after a recoverable drop, until the plan is done."""
        while True:
            failure = await self._stream(link, clock, tracker)
            if failure is None:
                break
            if not (failure.recoverable and self.settings.reconnect is not None):
                self.result.fail(failure.outcome, failure.kind, failure.detail)
                return
            reopened = await self._reconnect(failure, self.settings.reconnect, clock, tracker)
            if reopened is None:
                return
            link = reopened
        if self.result.outcome == OK and self.result.reconnects:
            self.result.outcome = RECOVERED

    async def _reconnect(
        self, failure: Failure, policy: ReconnectPolicy, clock: LiveClock, tracker: TranscriptTracker
    ) -> _Connection | None:
        """Reopen through the balancer with backoff; resume on the live clock. None: gave up."""
        dropped_at = self.now()
        last = failure
        attempt = 0
        while self._attempts < policy.max_attempts:
            await asyncio.sleep(policy.delay(attempt, self._rng))
            attempt += 1
            self._attempts += 1
            opened = await self._open()
            self.metrics.reconnect_attempt(not isinstance(opened, Failure))
            if isinstance(opened, Failure):
                last = opened
                continue
            self._resume(opened, clock, tracker, opened.ready_at - dropped_at)
            return opened.link
        if attempt == 0:
            self.result.fail(failure.outcome, failure.kind, f"{failure.detail}; no reconnect attempt left")
        else:
            detail = f"{failure.detail}; {attempt} reconnect attempt(s) failed, last: {last.detail}"
            self.result.fail(DROPPED, "reconnect_failed", detail)
        return None

    def _resume(self, opened: Opened, clock: LiveClock, tracker: TranscriptTracker, offline_s: float) -> None:
        """Pick up the plan where the live clock is now; the audio in the gap is lost."""
        live_position = opened.ready_at - clock.t0
        resume, self._feed = resume_chunks(self._feed, self._sent_until_s, live_position)
        if resume.offset_s >= self.plan.duration_s:
            self._tail_position_s = max(self._tail_position_s, resume.offset_s)
        tracker.new_connection(resume.offset_s)
        r = self.result
        r.reconnects += 1
        r.reconnect_s.append(offline_s)
        r.offline_s += offline_s
        r.audio_lost_s += resume.lost_s
        r.replicas.append(opened.replica or UNKNOWN_REPLICA)
        self.metrics.reconnected(offline_s, resume.lost_s)

    # Streaming on one connection.

    async def _stream(
        self, link: _Connection, clock: LiveClock, tracker: TranscriptTracker
    ) -> Failure | None:
        """Stream the rest of the plan and the tail on `link`; the Failure that ended it, if any."""
        link.start(tracker, self.metrics.stream_observers(self.result.replicas[-1]))
        try:
            await self._send_plan(link, clock)
            await self._send_tail(link, clock, tracker)
            if not link.server_done:
                link.ended_by_client = True
                await link.ws.send(END_OF_AUDIO)
        except ConnectionLost:
            pass  # on_closed records why
        except asyncio.CancelledError:
            link.ended_by_client = True  # we are being stopped: closing is ours, not the server's
            raise
        finally:
            await link.ws.close()  # messages still in flight feed the tracker until the close completes
            link.end()
        return link.failure

    async def _send_plan(self, link: _Connection, clock: LiveClock) -> None:
        for chunk in self._feed:
            try:
                sent = await self._send_on_time(link, clock, chunk.data, chunk.end_s)
            except ConnectionLost:
                sent = False
            if not sent:
                self._feed = chain((chunk,), self._feed)  # a reconnect may still send it
                return
            self._sent_until_s = chunk.end_s
            self.result.audio_sent_s = chunk.end_s - self.result.audio_lost_s
        link.in_tail = True

    async def _send_tail(self, link: _Connection, clock: LiveClock, tracker: TranscriptTracker) -> None:
        """Real-time silence until no transcript change for `settle_s` (at most `max_tail_s`)."""
        quiet = silence(self.settings.chunk_s).data.cast("B")
        speech_end = self.plan.duration_s
        while self._tail_position_s - speech_end < self.settings.max_tail_s:
            last_activity = max(tracker.last_change_at or 0.0, clock.due(speech_end))
            if self.now() - last_activity >= self.settings.settle_s:
                break
            position = self._tail_position_s + self.settings.chunk_s
            if not await self._send_on_time(link, clock, quiet, position):
                return
            self._tail_position_s = position
            self.result.tail_sent_s = position - speech_end

    async def _send_on_time(
        self, link: _Connection, clock: LiveClock, data: memoryview, end_s: float
    ) -> bool:
        """Send `data` when it is due; False (not sent) when the server ended the stream meanwhile."""
        delay = clock.due(end_s) - self.now()
        if delay > 0 and not link.server_done:
            await link.sleep_until(link.loop.time() + delay)
        if link.server_done:
            return False
        slip = clock.slip(self.now(), end_s)
        self.result.send_slips_s.append(slip)
        link.observers.send_slip(slip)
        await link.ws.send(data)
        self.result.chunks_sent += 1
        return True

    def _observe(self, link: _Connection, received_at: float, event: Segments) -> None:
        """Feed the tracker and export the lag samples it took, as they are taken."""
        tracker, observers = link.tracker, link.observers
        assert tracker is not None  # streaming has started
        lags, finals = len(tracker.transcript_lags), len(tracker.finalization_lags)
        frontier = tracker.frontier_s
        tracker.observe(received_at, event.segments)
        if tracker.frontier_s > frontier:
            observers.transcribed(tracker.frontier_s - frontier)
        for value in tracker.transcript_lags[lags:]:
            observers.transcript_lag(value)
        for value in tracker.finalization_lags[finals:]:
            observers.finalization_lag(value)

    def _finish(self, clock: LiveClock, tracker: TranscriptTracker) -> None:
        r = self.result
        r.transcript_lags_s = tracker.transcript_lags
        r.finalization_lags_s = tracker.finalization_lags
        r.segments_received = tracker.segments_received
        r.unfinalized_segments = tracker.unfinalized_segments
        r.hypothesis = tracker.hypothesis()
        if tracker.first_text_at is not None:
            r.first_text_s = tracker.first_text_at - clock.t0
        if tracker.last_change_at is not None:
            r.drain_s = tracker.last_change_at - clock.due(self.plan.duration_s)
        r.reference = self.reference
        if self.reference is not None:
            r.word_errors = word_errors(self.reference, r.hypothesis)
