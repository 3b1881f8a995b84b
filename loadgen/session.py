"""StreamSession: the only code that touches a WebSocket.

One session = connect, send the options, wait for SERVER_READY, stream the plan's chunks on the live
clock while a receiver task feeds the tracker, stream real-time silence until the transcript settles
(WhisperLive 0.10.0 drops untranscribed audio at END_OF_AUDIO), then END_OF_AUDIO and close.
Everything measured lands in the `SessionResult`, whatever goes wrong.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from loadgen.clock import LiveClock
from loadgen.kpi import word_errors
from loadgen.metrics import UNKNOWN_REPLICA, LoadgenMetrics
from loadgen.protocol import (
    END_OF_AUDIO,
    SAMPLE_RATE,
    Disconnect,
    Malformed,
    Ready,
    Segments,
    ServerError,
    ServerWarning,
    StreamOptions,
    Unknown,
    Wait,
    decode,
)
from loadgen.session_result import DROPPED, ERROR, REFUSED, SessionResult
from loadgen.stream_audio import StreamPlan, chunks, silence
from loadgen.tracker import TranscriptTracker

UPSTREAM_HEADER = "X-Upstream"


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

    @property
    def chunk_samples(self) -> int:
        """Samples per chunk."""
        return round(self.chunk_s * SAMPLE_RATE)


def serving_replica(header_value: str | None) -> str | None:
    """The replica that served the upgrade (after a balancer retry the header lists several: the last)."""
    if not header_value:
        return None
    return header_value.split(",")[-1].strip() or None


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
        self._ended_by_client = False
        self._server_done = asyncio.Event()

    @staticmethod
    def now() -> float:
        """The monotonic clock every timing of a session uses."""
        return time.monotonic()

    async def run(self) -> SessionResult:
        """Run the session to its end; never raises for anything the server or network does."""
        ws = await self._connect()
        if ws is None:
            return self.result
        try:
            ready_at = await self._handshake(ws)
            if ready_at is not None:
                await self._stream(ws, LiveClock(ready_at))
        finally:
            await ws.close()
        return self.result

    async def _connect(self) -> ClientConnection | None:
        started = self.now()
        try:
            ws = await connect(
                self.settings.url,
                compression=None,
                open_timeout=self.settings.open_timeout_s,
                max_size=2**20,
            )
        except InvalidStatus as exc:
            self.result.fail(ERROR, "handshake_rejected", f"HTTP {exc.response.status_code} on upgrade")
        except TimeoutError:
            self.result.fail(
                ERROR, "connect_timeout", f"no WebSocket upgrade within {self.settings.open_timeout_s} s"
            )
        except (OSError, InvalidHandshake) as exc:
            self.result.fail(ERROR, "connect_failed", f"{type(exc).__name__}: {exc}")
        else:
            self.result.connect_s = self.now() - started
            self.result.replica = serving_replica(
                ws.response.headers.get(UPSTREAM_HEADER) if ws.response else None
            )
            return ws
        return None

    async def _handshake(self, ws: ClientConnection) -> float | None:
        """Send the options and wait for SERVER_READY; return when it arrived, or None on failure."""
        sent_at = self.now()
        try:
            await ws.send(self.options.to_json())
            async with asyncio.timeout(self.settings.ready_timeout_s):
                while True:
                    raw = await ws.recv()
                    received_at = self.now()
                    event = decode(raw, self.options.uid)
                    if isinstance(event, Ready):
                        self.result.server_ready_s = received_at - sent_at
                        self.on_ready()
                        return received_at
                    if not self._handshake_event(event):
                        return None
        except TimeoutError:
            self.result.fail(
                ERROR, "ready_timeout", f"no SERVER_READY within {self.settings.ready_timeout_s} s"
            )
        except ConnectionClosed as exc:
            self.result.fail(ERROR, "closed_in_handshake", f"closed before SERVER_READY ({exc})")
        return None

    def _handshake_event(self, event: object) -> bool:
        """Handle a non-READY message during the handshake; False ends the session."""
        if isinstance(event, Wait):
            self.result.fail(REFUSED, "wait", f"server full or overloaded (WAIT {event.minutes:.1f} min)")
            return False
        if isinstance(event, ServerError):
            self.result.fail(ERROR, "server_error", event.message)
            return False
        if isinstance(event, Disconnect):
            self.result.fail(ERROR, "disconnect_in_handshake", "DISCONNECT before SERVER_READY")
            return False
        self._note(event)
        return True

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

    async def _stream(self, ws: ClientConnection, clock: LiveClock) -> None:
        tracker = TranscriptTracker(clock)
        self._observers = self.metrics.stream_observers(self.result.replica or UNKNOWN_REPLICA)
        receiver = asyncio.create_task(self._receive(ws, tracker))
        try:
            await self._send_plan(ws, clock)
            await self._send_tail(ws, clock, tracker)
            if not self._server_done.is_set():
                self._ended_by_client = True
                await ws.send(END_OF_AUDIO)
        except ConnectionClosed:
            pass  # the receiver records why
        except asyncio.CancelledError:
            self._ended_by_client = True  # we are being stopped: closing is ours, not the server's
            raise
        finally:
            await ws.close()
            await receiver
            self._finish(clock, tracker)

    async def _send_plan(self, ws: ClientConnection, clock: LiveClock) -> None:
        for chunk in chunks(self.plan, self.settings.chunk_samples):
            if self._server_done.is_set():
                return
            await self._send_on_time(ws, clock, chunk.data, chunk.end_s)
            self.result.audio_sent_s = chunk.end_s

    async def _send_tail(self, ws: ClientConnection, clock: LiveClock, tracker: TranscriptTracker) -> None:
        """Real-time silence until no transcript change for `settle_s` (at most `max_tail_s`)."""
        quiet = silence(self.settings.chunk_s).data.cast("B")
        speech_end = self.plan.duration_s
        position = speech_end
        while not self._server_done.is_set() and position - speech_end < self.settings.max_tail_s:
            last_activity = max(tracker.last_change_at or 0.0, clock.due(speech_end))
            if self.now() - last_activity >= self.settings.settle_s:
                break
            position += self.settings.chunk_s
            await self._send_on_time(ws, clock, quiet, position)
            self.result.tail_sent_s = position - speech_end

    async def _send_on_time(
        self, ws: ClientConnection, clock: LiveClock, data: memoryview, end_s: float
    ) -> None:
        delay = clock.due(end_s) - self.now()
        if delay > 0:
            await asyncio.sleep(delay)
        slip = clock.slip(self.now(), end_s)
        self.result.send_slips_s.append(slip)
        self._observers.send_slip(slip)
        await ws.send(data)
        self.result.chunks_sent += 1

    async def _receive(self, ws: ClientConnection, tracker: TranscriptTracker) -> None:
        try:
            async for raw in ws:
                received_at = self.now()
                event = decode(raw, self.options.uid)
                if isinstance(event, Segments):
                    self._observe(tracker, received_at, event)
                elif isinstance(event, ServerError):
                    self.result.fail(ERROR, "server_error", event.message)
                    break
                elif isinstance(event, Disconnect):
                    self.result.fail(DROPPED, "server_disconnect", "server sent DISCONNECT mid-stream")
                    break
                else:
                    self._note(event)
        except ConnectionClosed as exc:
            if not self._ended_by_client:
                self.result.fail(DROPPED, "closed_mid_stream", f"connection closed mid-stream ({exc})")
        else:
            if not self._ended_by_client:
                self.result.fail(DROPPED, "closed_mid_stream", "server closed the connection mid-stream")
        finally:
            self._server_done.set()

    def _observe(self, tracker: TranscriptTracker, received_at: float, event: Segments) -> None:
        """Feed the tracker and export the lag samples it took, as they are taken."""
        lags, finals = len(tracker.transcript_lags), len(tracker.finalization_lags)
        frontier = tracker.frontier_s
        tracker.observe(received_at, event.segments)
        if tracker.frontier_s > frontier:
            self._observers.transcribed(tracker.frontier_s - frontier)
        for value in tracker.transcript_lags[lags:]:
            self._observers.transcript_lag(value)
        for value in tracker.finalization_lags[finals:]:
            self._observers.finalization_lag(value)

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
