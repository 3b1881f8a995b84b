"""One measurement window: what happened between its start and now, as the `window` object of steps.jsonl.

Pure: every event carries its own timestamp (unix seconds) and the snapshot is computed from values; the
caller decides when a window starts (after a step's warm-up) and when it is read. Samples taken before
the window started are ignored, so a late delivery cannot leak the previous step into this one.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from loadgen.core.kpi import LatencyStats, WordErrors, corpus_wer, total_word_errors
from loadgen.core.latency_hist import LatencyHistogram
from loadgen.core.records import LATENCIES, UNKNOWN_REPLICA, ActiveClients, ReplicaCounts, WindowSnapshot
from loadgen.core.session_result import OUTCOMES, REFUSED, SUCCESSES, SessionResult
from loadgen.core.untranscribed import Untranscribed


def latency_block(samples: list[float]) -> LatencyStats | None:
    """count/avg/p50/p95/p99/max of `samples` (rounded as written), or None when there are none."""
    if not samples:
        return None
    return LatencyStats.of(samples).rounded()


@dataclass
class ReplicaWindow:
    """What one serving replica did in the window."""

    sessions: int = 0  # connections that reached SERVER_READY on it in the window
    transcribed_audio_s: float = 0.0


@dataclass(frozen=True)
class Connect:
    """How a connection attempt ended: SERVER_READY on `replica` `handshake_s` after it began connecting,
    or (replica None) without it, `refused` (WAIT, an HTTP rejection) or not (an error, a timeout)."""

    at: float
    replica: str | None
    handshake_s: float | None = None
    refused: bool = False

    @classmethod
    def of(cls, at: float, result: SessionResult) -> Connect:
        """The connection of a session that just reached SERVER_READY, or just ended without it."""
        if result.server_ready_s is None:
            return cls(at, None, None, result.outcome == REFUSED)
        handshake = (result.connect_s or 0.0) + result.server_ready_s
        return cls(at, result.replica or UNKNOWN_REPLICA, handshake)


@dataclass
class Window:
    """Accumulates one window; feed it events, read `snapshot(now)`."""

    started_at: float
    active: int = 0  # streaming sessions at the start (then every change is reported)
    connects_from: float | None = None  # connections count from here (the step's start), else started_at
    samples: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in LATENCIES})
    sessions: list[SessionResult] = field(default_factory=list)
    connects_ready: int = 0
    connects_failed: int = 0
    refusals: int = 0
    arrivals_dropped: int | None = None  # rate mode: arrivals dropped at --max-concurrency (else None)
    replicas: dict[str, ReplicaWindow] = field(default_factory=dict)
    # fed with each sample, so that reading the window (every second, for the live view) only encodes them
    histograms: dict[str, LatencyHistogram] = field(
        default_factory=lambda: {k: LatencyHistogram() for k in LATENCIES}
    )
    planned_speech_s: float = 0.0  # of the plans of the sessions that streamed in the window
    planned_audio_s: float = 0.0
    _planned: set[str] = field(default_factory=set)  # their uids
    _active_min: int = -1
    _active_max: int = 0
    _active_area: float = 0.0  # integral of active streams over time since the start
    _active_since: float = 0.0

    def __post_init__(self) -> None:
        if self.connects_from is None:
            self.connects_from = self.started_at
        self._active_min = self._active_max = self.active
        self._active_since = self.started_at

    def _in(self, at: float) -> bool:
        return at >= self.started_at

    def sample(self, kind: str, at: float, value: float) -> None:
        """A live `transcript_lag`, `finalization_lag` or `send_slip` sample (seconds)."""
        if self._in(at):
            self.samples[kind].append(value)
            self.histograms[kind].record(value)

    def transcribed(self, at: float, replica: str, seconds: float) -> None:
        """The transcript frontier of a stream on `replica` advanced by `seconds` of audio."""
        if self._in(at):
            self.replicas.setdefault(replica, ReplicaWindow()).transcribed_audio_s += seconds

    def connect(self, attempt: Connect) -> None:
        """A connection attempt ended (see `Connect`)."""
        if attempt.replica is None:
            self.connect_failed(attempt.at, attempt.refused)
        else:
            self.connected(attempt.at, attempt.replica, attempt.handshake_s)

    def connected(self, at: float, replica: str, handshake_s: float | None = None) -> None:
        """A session reached SERVER_READY on `replica`, `handshake_s` after it started connecting."""
        if at >= (self.connects_from or 0.0):
            self.connects_ready += 1
            self.replicas.setdefault(replica, ReplicaWindow()).sessions += 1
            if handshake_s is not None:
                self.samples["handshake"].append(handshake_s)
                self.histograms["handshake"].record(handshake_s)

    def connect_failed(self, at: float, refused: bool = False) -> None:
        """A session ended without reaching SERVER_READY (`refused`: WAIT or an HTTP rejection; else an
        error or a timeout)."""
        if at >= (self.connects_from or 0.0):
            self.connects_failed += 1
            self.refusals += refused

    def arrival_dropped(self, at: float) -> None:
        """Rate mode: an arrival found --max-concurrency sessions in flight and was not launched."""
        if self._in(at):
            self.arrivals_dropped = (self.arrivals_dropped or 0) + 1

    def streamed(self, result: SessionResult) -> None:
        """`result`'s session streams in the window (counted once): its plan's speech counts."""
        if result.uid in self._planned or result.speech_s is None or not result.speech_ratio:
            return
        self._planned.add(result.uid)
        self.planned_speech_s += result.speech_s
        self.planned_audio_s += result.speech_s / result.speech_ratio

    def session_ended(self, at: float, result: SessionResult) -> None:
        """A session ended (any outcome)."""
        if self._in(at):
            self.sessions.append(result)

    def streams(self, at: float, active: int) -> None:
        """The number of streaming sessions changed to `active`."""
        self._active_area += self.active * max(at - self._active_since, 0.0)
        self._active_since = max(at, self._active_since)
        self.active = active
        self._active_min = min(self._active_min, active)
        self._active_max = max(self._active_max, active)

    def _scored(self) -> list[WordErrors]:
        return [r.word_errors for r in self.sessions if r.word_errors and r.outcome in SUCCESSES]

    def wer(self) -> float:
        """Corpus WER of the successful sessions that ended in the window (NaN without any)."""
        return corpus_wer(self._scored())

    def snapshot(self, now: float) -> WindowSnapshot:
        """The `window` object of docs/RUN_DIR.md, from the start until `now`; changes nothing."""
        duration = max(now - self.started_at, 0.0)
        area = self._active_area + self.active * max(now - self._active_since, 0.0)
        outcomes = Counter({o: 0 for o in OUTCOMES})
        outcomes.update(r.outcome for r in self.sessions)
        scored = total_word_errors(self._scored())
        transcribed = sum(r.transcribed_audio_s for r in self.replicas.values())
        wer = scored.wer
        untranscribed = Untranscribed.sum(r.untranscribed for r in self.sessions).rounded()
        return WindowSnapshot(
            duration_s=round(duration, 3),
            active_clients=ActiveClients(
                self._active_min,
                self._active_max,
                round(area / duration, 3) if duration else float(self.active),
            ),
            sessions=dict(outcomes),
            connect_attempts=self.connects_ready + self.connects_failed,
            connects_ready=self.connects_ready,
            error_kinds=dict(Counter(r.error_kind for r in self.sessions if r.error_kind)),
            transcript_lag=latency_block(self.samples["transcript_lag"]),
            finalization_lag=latency_block(self.samples["finalization_lag"]),
            send_slip=latency_block(self.samples["send_slip"]),
            word_errors=scored.errors,
            reference_words=scored.reference_words,
            wer=None if math.isnan(wer) else round(wer, 5),
            audio_sent_s=round(sum(r.audio_sent_s for r in self.sessions), 3),
            transcribed_audio_s=round(transcribed, 3),
            throughput=round(transcribed / duration, 4) if duration else None,
            replicas={
                k: ReplicaCounts(v.sessions, v.transcribed_audio_s) for k, v in sorted(self.replicas.items())
            },
            substitutions=scored.substitutions,
            deletions=scored.deletions,
            insertions=scored.insertions,
            audio_untranscribed_s=round(untranscribed.total_s, 3),
            untranscribed=untranscribed,
            histograms={kind: self.histograms[kind].encode() for kind in LATENCIES if self.samples[kind]},
            speech_ratio=round(self.planned_speech_s / audio, 4) if (audio := self.planned_audio_s) else None,
            planned_audio_s=round(audio, 3) if audio else None,
            handshake=latency_block(self.samples["handshake"]),
            refusals=self.refusals,
            arrivals_dropped=self.arrivals_dropped,
        )
