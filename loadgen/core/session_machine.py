"""The decisions of one session as a state machine without I/O. Pure: no asyncio, no sockets, no clock.

Modelled on the sans-I/O design of the `websockets` library: a driver (`loadgen.live.session`) owns the
connection, the timers and the one clock; it feeds the machine what happened, stamped with the time it
happened, and asks it what to do next. Everything a session measures is decided here, the same for
every driver and for the unit tests, which feed it events directly.

Events in (methods; the hot ones take plain arguments, so a message or a chunk costs no event object):
- `connected(at, replica)`, `rejected(status)`, `open_timed_out()`, `connect_failed(detail)`: how the
  `CONNECT` the machine asked for went;
- `message(at, data) -> wake`: a server message, raw (decoded here, with one `StreamDecoder`);
- `timer_due(at) -> wake`: the connection's one timer fired (ready timeout, stall watchdog); re-arm it
  at `timer_at` when that is not None;
- `closed(detail, too_big) -> wake`: the connection ended (`too_big`: we closed it on an oversized message);
- `send_failed(detail)`: the connection was already gone when sending;
- `cancel()` then `finish()`: the session is being stopped.
`wake` True: the sender should stop waiting at once.

Actions out, from `next_action(now)`, asked again once the previous one is done: `CONNECT`; `Send(data)`
(the options, a chunk of trailing silence, END_OF_AUDIO); a `Chunk` of the plan (send its data);
`ArmTimer(at)` (the connection's one timer, replacing any); `WAIT` (until `wake_at`, or until woken when
that is None); `CLOSE`; `ReconnectAfter(delay_s)`; `FINISH`.

One session: connect, send the options, wait for SERVER_READY (the live clock starts then), stream the
plan's chunks when each is due while messages feed the tracker, stream real-time silence until the
transcript settles (WhisperLive 0.10.0 drops untranscribed audio at END_OF_AUDIO), then END_OF_AUDIO and
close. With a `ReconnectPolicy`, a connection that drops mid-stream (closed, DISCONNECT, stalled) is
reopened with backoff; the stream resumes where the session's original live clock is now, the gap is lost.
The stall watchdog counts only the seconds the plan's speech flows: a pause is never a stall.

An idle session (`idle`: `IDLE_SILENCE` or `IDLE_NOTHING`, `--idle-clients`) has an empty plan: after
SERVER_READY it streams real-time silence, or waits with nothing to send, until it is cancelled or the
server ends it; it never settles, never sends END_OF_AUDIO and never stalls.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from enum import Enum
from itertools import chain
from typing import Protocol

from loadgen.core.clock import LiveClock
from loadgen.core.kpi import word_errors
from loadgen.core.protocol import (
    END_OF_AUDIO,
    MAX_MESSAGE_BYTES,
    SAMPLE_RATE,
    Disconnect,
    Malformed,
    Ready,
    Segments,
    ServerError,
    ServerEvent,
    ServerWarning,
    StreamDecoder,
    StreamOptions,
    Unknown,
    Wait,
)
from loadgen.core.reconnect import ReconnectPolicy, resume_chunks
from loadgen.core.session_result import DROPPED, ERROR, OK, RECOVERED, REFUSED, SessionResult
from loadgen.core.stream_audio import Chunk, StreamPlan, chunks, silence, speech_between, speech_reached
from loadgen.core.tracker import TranscriptTracker
from loadgen.core.untranscribed import Drop, Untranscribed, untranscribed


@dataclass(frozen=True)
class SessionRules:
    """The settings a session's decisions follow (seconds); `loadgen.live.session.SessionSettings` adds
    how to connect."""

    options: StreamOptions
    chunk_s: float = 0.256
    settle_s: float = 3.0  # the tail ends after this long without a transcript change
    max_tail_s: float = 20.0  # ... or after this much trailing silence
    open_timeout_s: float = 10.0
    ready_timeout_s: float = 60.0
    stall_timeout_s: float = 30.0  # no transcript for this long while speech flows: the server stalled
    reconnect: ReconnectPolicy | None = None  # None: a dropped session ends as dropped

    @property
    def chunk_samples(self) -> int:
        """Samples per chunk."""
        return round(self.chunk_s * SAMPLE_RATE)


class LiveSamples(Protocol):
    """Where one connection's live samples go (`loadgen.telemetry.metrics.StreamObservers`)."""

    @property
    def transcript_lag(self) -> Callable[[float], None]:
        """A transcript lag sample."""

    @property
    def finalization_lag(self) -> Callable[[float], None]:
        """A finalization lag sample."""

    @property
    def send_slip(self) -> Callable[[float], None]:
        """A send slip sample."""

    @property
    def transcribed(self) -> Callable[[float], None]:
        """Seconds of audio the transcript frontier advanced by."""


class SessionTelemetry(Protocol):
    """What the machine reports as it goes (`loadgen.telemetry.metrics.LoadgenMetrics`)."""

    def stream_observers(self, replica: str) -> LiveSamples:
        """The sample sinks of a connection served by `replica`."""

    def reconnect_attempt(self, ok: bool) -> None:
        """One reconnect attempt ended."""

    def reconnected(self, duration_s: float, audio_lost_s: float) -> None:
        """A reconnect succeeded after `duration_s` offline, `audio_lost_s` of audio lost."""


@dataclass(frozen=True)
class Failure:
    """Why a connection attempt or a connection ended; `recoverable`: a reconnect may fix it."""

    outcome: str
    kind: str
    detail: str
    recoverable: bool = False


# Actions.


class Step(Enum):
    """The actions without data."""

    CONNECT = "connect"  # open a connection; report how with connected, rejected, open_timed_out...
    WAIT = "wait"  # until the machine's `wake_at` (None: until a wake), then ask again
    CLOSE = "close"  # close the connection, and wait until it closed (its last messages still count)
    FINISH = "finish"  # the session is over: its result is complete


@dataclass(frozen=True)
class Send:
    """Send one message: the options (text), a chunk of trailing silence, END_OF_AUDIO. (A chunk of the
    plan is sent as the `Chunk` itself: no action object per chunk.)"""

    data: str | bytes | memoryview


@dataclass(frozen=True)
class ArmTimer:
    """(Re)arm the connection's one timer at `at`; call `timer_due` when it fires."""

    at: float


@dataclass(frozen=True)
class ReconnectAfter:
    """Wait `delay_s` before the next connection attempt."""

    delay_s: float


CONNECT, WAIT, CLOSE, FINISH = Step.CONNECT, Step.WAIT, Step.CLOSE, Step.FINISH
IDLE_SILENCE, IDLE_NOTHING = "silence", "nothing"  # what an idle session sends after SERVER_READY
IDLE_MODES = (IDLE_SILENCE, IDLE_NOTHING)
SEND_END = Send(END_OF_AUDIO)
Action = Step | Send | Chunk | ArmTimer | ReconnectAfter

# States.
_BEGIN, _CONNECTING, _OPTIONS, _HANDSHAKE, _AWAIT_READY, _ABANDON = range(6)  # a connection attempt
_READY, _STREAM, _TAIL, _END, _CLOSING = range(6, 11)  # a connection that reached SERVER_READY
_BACKOFF, _DONE = 11, 12
_HANDSHAKING = (_CONNECTING, _OPTIONS, _HANDSHAKE, _AWAIT_READY)


def closed_failure(detail: str, too_big: bool) -> Failure:
    """Classify a connection that closed under us mid-stream."""
    if too_big:
        return Failure(ERROR, "oversized_message", f"server message above {MAX_MESSAGE_BYTES} bytes")
    return Failure(DROPPED, "closed_mid_stream", f"connection closed mid-stream ({detail})", recoverable=True)


class SessionMachine:
    """One session's decisions: feed it events, ask it for the next action (module docstring)."""

    wake_at: float | None = None  # when a `WAIT` ends (None: only on a wake)
    timer_at: float | None = None  # when the connection's timer should fire next (None: not armed)

    def __init__(
        self,
        rules: SessionRules,
        plan: StreamPlan,
        result: SessionResult,
        reference: str | None,
        telemetry: SessionTelemetry,
        on_ready: Callable[[], None] = lambda: None,
        unknown_replica: str = "",
        idle: str | None = None,
    ) -> None:
        self.rules = rules
        self.idle = idle  # IDLE_SILENCE or IDLE_NOTHING: after the plan, silence or nothing until stopped
        self.plan = plan
        self.result = result
        self.reference = reference
        self.telemetry = telemetry
        self.on_ready = on_ready
        self.unknown_replica = unknown_replica
        self.options_message = Send(replace(rules.options, uid=result.uid).to_json())
        self.silence_message = Send(silence(rules.chunk_s).data.cast("B"))  # one chunk of the tail
        self._decoder = StreamDecoder(result.uid)
        self._rng = random.Random(result.uid)
        self._feed: Iterator[Chunk] = chunks(plan, rules.chunk_samples)
        self._spans = plan.speech_spans()  # the stall watchdog counts the time speech flows
        self._state = _BEGIN
        # The session: its clock and tracker exist from the first SERVER_READY on.
        self._clock: LiveClock | None = None
        self._tracker: TranscriptTracker | None = None
        self._samples: LiveSamples | None = None
        self._sent_until_s = 0.0  # plan position of the end of the last chunk sent
        self._tail_position_s = plan.duration_s
        self._attempts = 0  # reconnect attempts made, all drops together
        self._finished = False
        # The connection attempt.
        self._started_at = 0.0
        self._connected_at = 0.0
        self._replica: str | None = None
        self._refusal: Failure | None = None  # why the handshake failed
        # The ready connection.
        self._live = False  # messages feed the tracker (streaming, and the stream not ended)
        self._failure: Failure | None = None
        self._ended_by_client = False
        self._send_lost = False
        self._in_tail = False
        self._progress_at = 0.0  # time of the last transcript (or of SERVER_READY, or of a tail stall)
        self._chunk: Chunk | None = None  # the plan chunk being sent (kept for a reconnect until sent)
        self._sending = False  # the current chunk went to the driver to send
        self._tail_next_s: float | None = None  # the tail chunk being sent, by its end position
        # The drop being recovered.
        self._drop: Failure | None = None
        self._dropped_at = 0.0
        self._drop_attempts = 0
        self._last: Failure | None = None
        self._drops: list[Drop] = []  # every connection that failed mid-stream, for untranscribed speech
        self._cancelled = False

    # Events.

    def connected(self, at: float, replica: str | None) -> None:
        """The connection opened (WebSocket upgrade done); `replica` served it."""
        self._connected_at, self._replica = at, replica
        if self.result.replica is None:
            self.result.replica = replica  # the first connection's replica, even when it refuses
        self._refusal = None
        self._state = _OPTIONS

    def rejected(self, status: int) -> None:
        """The server answered the upgrade with HTTP `status`."""
        hint = ": wrong or missing --api-key" if status in (401, 403) else ""
        self._attempt_failed(Failure(ERROR, "handshake_rejected", f"HTTP {status} on upgrade{hint}"))

    def open_timed_out(self) -> None:
        """No upgrade within the open timeout."""
        detail = f"no WebSocket upgrade within {self.rules.open_timeout_s} s"
        self._attempt_failed(Failure(ERROR, "connect_timeout", detail))

    def connect_failed(self, detail: str) -> None:
        """The connection could not be opened (refused, reset, bad handshake)."""
        self._attempt_failed(Failure(ERROR, "connect_failed", detail))

    def message(self, at: float, data: str | bytes) -> bool:
        """A server message received at `at`; True: wake the sender (the stream ended or is ready)."""
        if self._live:
            event = self._decoder.decode(data)
            if type(event) is Segments:
                self._progress_at = at
                self._observe(at, event)
                return False
            if type(event) is ServerError:
                return self._fail(Failure(ERROR, "server_error", event.message))
            if type(event) is Disconnect:
                detail = "server sent DISCONNECT mid-stream"
                return self._fail(Failure(DROPPED, "server_disconnect", detail, True))
            self._note(event)
            return False
        if self._state in _HANDSHAKING and self._refusal is None:
            return self._handshake(at, self._decoder.decode(data))
        return False  # after a refusal, or after the stream ended

    def timer_due(self, at: float) -> bool:
        """The connection's timer fired at `at`: the ready timeout, or the stall watchdog."""
        self.timer_at = None
        if self._state == _AWAIT_READY and self._refusal is None:
            detail = f"no SERVER_READY within {self.rules.ready_timeout_s} s"
            self._refusal = Failure(ERROR, "ready_timeout", detail)
            return True
        if not self._live:
            return False
        stall_s = self.rules.stall_timeout_s
        if self._in_tail:  # trailing silence (or an idle stream): the sender ends the stream itself
            self._progress_at = at
            self.timer_at = at + stall_s
            return False
        assert self._clock is not None
        t0 = self._clock.t0
        since = self._progress_at - t0  # the stream position of the last progress
        if speech_between(self._spans, since, at - t0) < stall_s - 1e-9:  # pauses do not count
            stalls_at = speech_reached(self._spans, since, stall_s)
            self.timer_at = None if stalls_at is None else t0 + stalls_at
            return False
        detail = f"no transcript for {stall_s:g} s while speech flowed"
        return self._fail(Failure(ERROR, "stalled", detail, True))

    def closed(self, detail: str, too_big: bool) -> bool:
        """The connection ended: before SERVER_READY a failed handshake, after it maybe a drop."""
        if self._state in _HANDSHAKING and self._refusal is None:
            self._refusal = Failure(ERROR, "closed_in_handshake", f"closed before SERVER_READY ({detail})")
        elif not self._ended_by_client and self._failure is None:
            self._failure = closed_failure(detail, too_big)
            if too_big:
                self._count_protocol_error("oversized")
        self._end()
        return True

    def send_failed(self, detail: str) -> None:
        """The last send found the connection closed: stop sending on it."""
        if self._state in _HANDSHAKING:
            self._refusal = Failure(ERROR, "closed_in_handshake", f"closed before SERVER_READY ({detail})")
        self._sending = False  # not sent: a reconnect may still send it
        self._send_lost = True

    def cancel(self) -> None:
        """The load generator is stopping the session: the close that follows is ours."""
        self._ended_by_client = self._cancelled = True

    # The next action.

    def next_action(self, now: float) -> Action:
        """What the driver does next, at `now`; ask again once it is done."""
        state = self._state
        if state == _STREAM:
            return self._stream(now)
        if state == _TAIL:
            return self._tail(now)
        if state == _BEGIN:
            self._started_at = now
            self._state = _CONNECTING
            return CONNECT
        if state == _OPTIONS:
            self._state = _HANDSHAKE
            return self.options_message
        if state == _HANDSHAKE:  # the options went out: SERVER_READY must follow in time
            if self._refusal is not None:
                return self._abandon()
            self._state = _AWAIT_READY
            self.timer_at = now + self.rules.ready_timeout_s
            return ArmTimer(self.timer_at)
        if state == _AWAIT_READY:
            if self._refusal is not None:
                return self._abandon()
            self.wake_at = None
            return WAIT
        if state == _READY:  # the stall watchdog starts with the stream
            self._state = _STREAM
            return ArmTimer(self.timer_at) if self.timer_at is not None else self._stream(now)
        if state == _ABANDON:
            assert self._refusal is not None
            self._attempt_failed(self._refusal)
            return self.next_action(now)
        if state == _END:
            return self._close()
        if state == _CLOSING:
            return self._connection_over(now)
        if state == _BACKOFF:
            return self._backoff()
        if state == _CONNECTING:
            raise RuntimeError("next_action before the outcome of CONNECT was reported")
        return FINISH  # _DONE

    # The handshake.

    def _handshake(self, at: float, event: ServerEvent) -> bool:
        """A message before SERVER_READY: READY starts the stream, some others refuse it."""
        if type(event) is Ready:
            self._start_stream(at)
            return True
        if isinstance(event, Wait):
            detail = f"server full or overloaded (WAIT {event.minutes:.1f} min)"
            self._refusal = Failure(REFUSED, "wait", detail)
        elif isinstance(event, ServerError):
            self._refusal = Failure(ERROR, "server_error", event.message)
        elif isinstance(event, Disconnect):
            self._refusal = Failure(ERROR, "disconnect_in_handshake", "DISCONNECT before SERVER_READY")
        else:
            self._note(event)
            return False
        return True

    def _abandon(self) -> Action:
        """Close a connection whose handshake failed."""
        self._state = _ABANDON
        self.timer_at = None
        return CLOSE

    def _attempt_failed(self, failure: Failure) -> None:
        """A connection attempt failed: the session fails, or the reconnect goes on."""
        if self._clock is None:  # the first connection
            self.result.fail(failure.outcome, failure.kind, failure.detail)
            self._state = _DONE
            return
        self.telemetry.reconnect_attempt(False)
        self._last = failure
        self._state = _BACKOFF

    def _start_stream(self, ready_at: float) -> None:
        """SERVER_READY at `ready_at`: the live clock starts (or, reconnected, the stream resumes)."""
        r = self.result
        if self._clock is None:
            r.connect_s = self._connected_at - self._started_at
            r.server_ready_s = ready_at - self._connected_at
            r.replicas.append(self._replica or self.unknown_replica)
            self.on_ready()
            self._clock = LiveClock(ready_at)
            self._tracker = TranscriptTracker(self._clock)
        else:
            self.telemetry.reconnect_attempt(True)
            self._resume(ready_at)
        self._samples = self.telemetry.stream_observers(r.replicas[-1])
        self._state = _READY
        self._live = True
        self._failure = self._tail_next_s = None
        self._ended_by_client = self._send_lost = self._in_tail = self._sending = False
        self._progress_at = ready_at
        self.timer_at = ready_at + self.rules.stall_timeout_s

    def _resume(self, ready_at: float) -> None:
        """Pick up the plan where the live clock is now; the audio in the gap is lost."""
        assert self._clock is not None and self._tracker is not None
        offline_s = ready_at - self._dropped_at
        remaining = chain((self._chunk,), self._feed) if self._chunk is not None else self._feed
        self._chunk = None
        resume, self._feed = resume_chunks(remaining, self._sent_until_s, ready_at - self._clock.t0)
        if resume.offset_s >= self.plan.duration_s:
            self._tail_position_s = max(self._tail_position_s, resume.offset_s)
        self._tracker.new_connection(resume.offset_s)
        self._drops[-1] = replace(self._drops[-1], resume_s=resume.offset_s)
        r = self.result
        r.reconnects += 1
        r.reconnect_s.append(offline_s)
        r.offline_s += offline_s
        r.audio_lost_s += resume.lost_s
        r.replicas.append(self._replica or self.unknown_replica)
        self.telemetry.reconnected(offline_s, resume.lost_s)

    # Streaming.

    def _stream(self, now: float) -> Action:
        """The plan, a chunk when it is due; its send confirmed by the next call."""
        chunk = self._chunk
        if self._sending:  # the driver sent it
            assert chunk is not None
            self._sending = False
            self._sent_until_s = chunk.end_s
            self.result.audio_sent_s = chunk.end_s - self.result.audio_lost_s
            self.result.chunks_sent += 1
            chunk = None
        if not self._live or self._send_lost:
            self._chunk = chunk  # not sent: a reconnect may still send it
            return self._close()
        clock, samples = self._clock, self._samples
        assert clock is not None and samples is not None
        if chunk is None:
            chunk = self._chunk = next(self._feed, None)
            if chunk is None:
                self._in_tail = True
                self._state = _TAIL
                return self._tail(now)
            due = clock.due(chunk.end_s)
            if due > now:
                self.wake_at = due
                return WAIT
        slip = clock.slip(now, chunk.end_s)
        self.result.send_slips_s.append(slip)
        samples.send_slip(slip)
        self._sending = True
        return chunk

    def _tail(self, now: float) -> Action:
        """Real-time silence until no transcript change for `settle_s` (at most `max_tail_s`); an idle
        session: silence (or nothing) until it is stopped."""
        speech_end = self.plan.duration_s
        if self._sending:  # the driver sent the chunk ending at `_tail_next_s`
            assert self._tail_next_s is not None
            self._sending = False
            self._tail_position_s, self._tail_next_s = self._tail_next_s, None
            self.result.tail_sent_s = self._tail_position_s - speech_end
            self.result.chunks_sent += 1
        if not self._live or self._send_lost:
            return self._close()
        clock, tracker, samples = self._clock, self._tracker, self._samples
        assert clock is not None and tracker is not None and samples is not None
        position = self._tail_next_s
        if position is None:
            rules = self.rules
            if self.idle == IDLE_NOTHING:  # nothing to send until the session is stopped
                self.wake_at = None
                return WAIT
            if self.idle is None and self._tail_position_s - speech_end >= rules.max_tail_s:
                return self._end_stream()
            last_activity = max(tracker.last_change_at or 0.0, clock.due(speech_end))
            if self.idle is None and now - last_activity >= rules.settle_s:
                return self._end_stream()
            position = self._tail_next_s = self._tail_position_s + rules.chunk_s
            due = clock.due(position)
            if due > now:
                self.wake_at = due
                return WAIT
        slip = clock.slip(now, position)
        self.result.send_slips_s.append(slip)
        samples.send_slip(slip)
        self._sending = True
        return self.silence_message

    def _end_stream(self) -> Action:
        """The plan and its tail are sent: END_OF_AUDIO, then close."""
        self._ended_by_client = True
        self._state = _END
        return SEND_END

    def _close(self) -> Action:
        self._state = _CLOSING
        return CLOSE

    def _observe(self, received_at: float, event: Segments) -> None:
        """Feed the tracker and export the lag samples it took, as they are taken."""
        tracker, samples = self._tracker, self._samples
        assert tracker is not None and samples is not None
        lags, finals = len(tracker.transcript_lags), len(tracker.finalization_lags)
        frontier = tracker.frontier_s
        tracker.observe(received_at, event.segments)
        if tracker.frontier_s > frontier:
            samples.transcribed(tracker.frontier_s - frontier)
        for value in tracker.transcript_lags[lags:]:
            samples.transcript_lag(value)
        for value in tracker.finalization_lags[finals:]:
            samples.finalization_lag(value)

    def _note(self, event: ServerEvent) -> None:
        """Record a message that neither ends nor advances the stream."""
        if isinstance(event, ServerWarning):
            self.result.warnings.append(event.message)
        elif isinstance(event, Malformed):
            self._count_protocol_error(event.kind)
        elif isinstance(event, Unknown):
            self._count_protocol_error("unknown_type")

    def _count_protocol_error(self, kind: str) -> None:
        self.result.protocol_errors[kind] = self.result.protocol_errors.get(kind, 0) + 1

    def _fail(self, failure: Failure) -> bool:
        """End the stream with `failure` (the first one counts)."""
        if self._failure is None:
            self._failure = failure
        self._end()
        return True

    def _end(self) -> None:
        """The stream ended (server, stall, close): messages no longer count, the watchdog stops."""
        self._live = False
        self.timer_at = None

    # After a connection.

    def _connection_over(self, now: float) -> Action:
        """The connection closed: done, failed, or reconnect."""
        self._end()
        failure = self._failure
        if failure is None:
            if self.result.outcome == OK and self.result.reconnects:
                self.result.outcome = RECOVERED
            return self._done()
        assert self._tracker is not None
        self._drops.append(Drop(self._tracker.frontier_s, self._sent_until_s))
        policy = self.rules.reconnect
        if not (failure.recoverable and policy is not None):
            self.result.fail(failure.outcome, failure.kind, failure.detail)
            return self._done()
        self._drop, self._last, self._dropped_at, self._drop_attempts = failure, failure, now, 0
        self._state = _BACKOFF
        return self._backoff()

    def _backoff(self) -> Action:
        """The next reconnect attempt after its backoff, or give up."""
        policy, drop = self.rules.reconnect, self._drop
        assert policy is not None and drop is not None
        if self._attempts < policy.max_attempts:
            delay = policy.delay(self._drop_attempts, self._rng)
            self._drop_attempts += 1
            self._attempts += 1
            self._state = _BEGIN
            return ReconnectAfter(delay)
        if self._drop_attempts == 0:
            self.result.fail(drop.outcome, drop.kind, f"{drop.detail}; no reconnect attempt left")
        else:
            last = self._last.detail if self._last is not None else ""
            detail = f"{drop.detail}; {self._drop_attempts} reconnect attempt(s) failed, last: {last}"
            self.result.fail(DROPPED, "reconnect_failed", detail)
        return self._done()

    def _done(self) -> Action:
        self._state = _DONE
        self.finish()
        return FINISH

    def finish(self) -> None:
        """Write the transcript and its measures into the result (once; nothing before SERVER_READY)."""
        clock, tracker = self._clock, self._tracker
        if self._finished or clock is None or tracker is None:
            return
        self._finished = True
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
        r.untranscribed = self._untranscribed(tracker).rounded()
        r.audio_untranscribed_s = round(r.untranscribed.total_s, 3)

    def _untranscribed(self, tracker: TranscriptTracker) -> Untranscribed:
        """The speech no segment covered, up to where the stream got (a cancelled one: up to what the
        server had answered, or had lost in a drop before)."""
        drops = self._drops
        if self._cancelled:
            horizon = max(tracker.frontier_s, drops[-1].sent_until_s if drops else 0.0)
        else:
            horizon = max(self._sent_until_s, (drops[-1].resume_s or 0.0) if drops else 0.0)
        return untranscribed(self.plan.speech_spans(), tracker.coverage.spans, drops, horizon)
