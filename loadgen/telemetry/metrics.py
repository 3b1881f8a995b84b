"""The load generator's Prometheus metrics (`loadgen_*`), in a registry of its own.

Lags and send slips are observed live, as they are measured, so dashboards move during hour-long
continuous sessions; per-session values (first text, drain, connect, server ready, outcome, WER counts)
when a session ends. The only label with more than a handful of values is `replica`, the serving
replica's address: bounded by the deployment's size, never per session.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from loadgen.core.kpi import corpus_wer
from loadgen.core.protocol import PROTOCOL_ERROR_KINDS
from loadgen.core.records import UNKNOWN_REPLICA
from loadgen.core.session_result import OUTCOMES, SUCCESSES, SessionResult

# Every SLO threshold we alert on (0.25, 0.5, 1, 2 s) is a bucket boundary.
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
FAST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SLIP_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)
RECENT_SESSIONS = 20
RECONNECT_RESULTS = ("ok", "failed")
WORD_ERROR_KINDS = ("substitution", "deletion", "insertion")
UNTRANSCRIBED_CAUSES = ("in_flight", "gap", "skipped")  # core/untranscribed


@dataclass(frozen=True)
class StreamObservers:
    """Where one stream's live samples go; label children are resolved once per stream, not per sample."""

    transcript_lag: Callable[[float], None]
    finalization_lag: Callable[[float], None]
    send_slip: Callable[[float], None]
    transcribed: Callable[[float], None]  # seconds of audio the transcript frontier advanced by


class LoadgenMetrics:
    """Instruments of one load generator process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.transcript_lag = Histogram(
            "loadgen_transcript_lag_seconds",
            "Receive time minus live time of the transcript frontier",
            ["replica"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.finalization_lag = Histogram(
            "loadgen_finalization_lag_seconds",
            "Receive time minus live time of a newly completed segment's end",
            ["replica"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.first_text = Histogram(
            "loadgen_first_text_latency_seconds",
            "SERVER_READY to the first non-empty text",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.drain = Histogram(
            "loadgen_drain_latency_seconds",
            "End of the session's audio to its last transcript change",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.connect = Histogram(
            "loadgen_connect_duration_seconds",
            "TCP connect and WebSocket upgrade",
            buckets=FAST_BUCKETS,
            registry=r,
        )
        self.server_ready = Histogram(
            "loadgen_server_ready_duration_seconds",
            "Options sent to SERVER_READY received",
            buckets=FAST_BUCKETS,
            registry=r,
        )
        self.send_slip = Histogram(
            "loadgen_send_slip_seconds",
            "How late each audio send started against its due time",
            buckets=SLIP_BUCKETS,
            registry=r,
        )
        self.event_loop_lag = Histogram(
            "loadgen_event_loop_lag_seconds",
            "How late the event loop ran a periodic 100 ms timer (the generator's own delay)",
            buckets=SLIP_BUCKETS,
            registry=r,
        )
        self.generator_saturated = Gauge(
            "loadgen_generator_saturated",
            "1 while send slip p99 over the last minute is above 50 ms: the generator itself is late",
            registry=r,
        )
        self.sessions = Counter(
            "loadgen_sessions_total",
            "Finished sessions by outcome and serving replica",
            ["outcome", "replica"],
            registry=r,
        )
        self.session_errors = Counter(
            "loadgen_session_errors_total",
            "Failed sessions by error kind",
            ["kind"],
            registry=r,
        )
        self.protocol_errors = Counter(
            "loadgen_protocol_errors_total",
            "Malformed or unknown server messages",
            ["kind"],
            registry=r,
        )
        self.audio_sent = Counter(
            "loadgen_audio_sent_seconds_total",
            "Seconds of audio streamed (excluding end-of-stream silence)",
            ["replica"],
            registry=r,
        )
        self.transcribed_audio = Counter(
            "loadgen_transcribed_audio_seconds_total",
            "Seconds of audio the transcript frontier advanced by (live): the served throughput",
            ["replica"],
            registry=r,
        )
        self.segments = Counter(
            "loadgen_segments_received_total",
            "Transcript segments received",
            registry=r,
        )
        self.word_errors = Counter(
            "loadgen_word_errors_total",
            "Word errors of finished sessions, by kind (substitution, deletion, insertion)",
            ["kind"],
            registry=r,
        )
        self.reference_words = Counter(
            "loadgen_reference_words_total",
            "Reference words of finished sessions",
            registry=r,
        )
        self.recent_wer = Gauge(
            "loadgen_recent_wer_ratio",
            f"Corpus WER of the last {RECENT_SESSIONS} ok sessions",
            registry=r,
        )
        self.target_clients = Gauge("loadgen_target_clients", "Clients the generator aims to run", registry=r)
        self.active_clients = Gauge(
            "loadgen_active_clients",
            "Sessions streaming now (SERVER_READY received, not ended)",
            registry=r,
        )
        self.step = Gauge("loadgen_step", "Index of the ramp step being run (-1: none yet)", registry=r)
        self.step.set(-1)
        self.step_wer = Gauge(
            "loadgen_step_wer_ratio",
            "Corpus WER of the sessions that ended in the current measurement window (NaN: none yet)",
            registry=r,
        )
        self.step_wer.set(float("nan"))
        self.reconnects = Counter(
            "loadgen_reconnects_total",
            "Reconnect attempts after a mid-stream drop, by result (ok: SERVER_READY again)",
            ["result"],
            registry=r,
        )
        self.reconnect_duration = Histogram(
            "loadgen_reconnect_duration_seconds",
            "Drop to SERVER_READY on the new connection, per successful reconnect",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.audio_lost = Counter(
            "loadgen_audio_lost_seconds_total",
            "Seconds of speech that fell in reconnect gaps (never sent)",
            registry=r,
        )
        self.audio_untranscribed = Counter(
            "loadgen_audio_untranscribed_seconds_total",
            "Seconds of speech no transcript segment covered, of ended sessions, by cause "
            "(in_flight: sent to a connection that dropped; gap: never sent; skipped: passed over)",
            ["cause"],
            registry=r,
        )
        self._recent: deque = deque(maxlen=RECENT_SESSIONS)
        self._initialise_labels()

    def _initialise_labels(self) -> None:
        """Bounded label sets start at zero so rates exist before the first event."""
        for outcome in OUTCOMES:
            self.sessions.labels(outcome, UNKNOWN_REPLICA)
        for kind in PROTOCOL_ERROR_KINDS:
            self.protocol_errors.labels(kind)
        for result in RECONNECT_RESULTS:
            self.reconnects.labels(result)
        for kind in WORD_ERROR_KINDS:
            self.word_errors.labels(kind)
        for cause in UNTRANSCRIBED_CAUSES:
            self.audio_untranscribed.labels(cause)

    def stream_observers(self, replica: str) -> StreamObservers:
        """The callables a session feeds its live lag and send-slip samples to."""
        return StreamObservers(
            self.transcript_lag.labels(replica).observe,
            self.finalization_lag.labels(replica).observe,
            self.send_slip.observe,
            self.transcribed_audio.labels(replica).inc,
        )

    def reconnect_attempt(self, ok: bool) -> None:
        """Count one reconnect attempt."""
        self.reconnects.labels(RECONNECT_RESULTS[0] if ok else RECONNECT_RESULTS[1]).inc()

    def reconnected(self, duration_s: float, audio_lost_s: float) -> None:
        """Observe a successful reconnect: its duration and the speech lost in the gap."""
        self.reconnect_duration.observe(duration_s)
        self.audio_lost.inc(audio_lost_s)

    def session_finished(self, result: SessionResult) -> None:
        """Count a finished session and observe its per-session values."""
        replica = result.replica or UNKNOWN_REPLICA
        self.sessions.labels(result.outcome, replica).inc()
        if result.error_kind:
            self.session_errors.labels(result.error_kind).inc()
        for kind, count in result.protocol_errors.items():
            self.protocol_errors.labels(kind).inc(count)
        self.audio_sent.labels(replica).inc(result.audio_sent_s)
        self.segments.inc(result.segments_received)
        for histogram, value in (
            (self.first_text, result.first_text_s),
            (self.drain, result.drain_s),
            (self.connect, result.connect_s),
            (self.server_ready, result.server_ready_s),
        ):
            if value is not None:
                histogram.observe(value)
        self._count_words(result)
        u = result.untranscribed
        if u is not None:
            for cause, seconds in zip(
                UNTRANSCRIBED_CAUSES, (u.in_flight_s, u.gap_s, u.skipped_s), strict=True
            ):
                self.audio_untranscribed.labels(cause).inc(seconds)

    def _count_words(self, result: SessionResult) -> None:
        if result.word_errors is None or result.outcome not in SUCCESSES:
            return
        w = result.word_errors
        for kind, count in zip(WORD_ERROR_KINDS, (w.substitutions, w.deletions, w.insertions), strict=True):
            self.word_errors.labels(kind).inc(count)
        self.reference_words.inc(result.word_errors.reference_words)
        self._recent.append(result.word_errors)
        self.recent_wer.set(corpus_wer(self._recent))

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Expose `/metrics` on host:port from a background thread."""
        start_http_server(port, addr=host, registry=self.registry)
