"""The runner owns concurrency: how many clients, when they start, which audio each session streams.

Measurement lives in `StreamSession`; `SessionLauncher` runs one session of a client and hands its
`SessionResult` to the sinks (results file, metrics, windows) as soon as it ends. `LoadRunner` (a fixed
number of clients) and `loadgen.live.pool.ClientPool` (a target that changes) both launch sessions through it.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from loadgen.core.arrivals import SessionLength
from loadgen.core.schedule import continuous_selection, start_offset
from loadgen.core.session_machine import IDLE_SILENCE
from loadgen.core.session_result import STOPPED, RunRecord, SessionResult
from loadgen.core.speech import DEFAULT_SEED, SpeechActivity
from loadgen.core.stream_audio import StreamPlan, build_plan, build_talk_plan, padded, silence
from loadgen.data.corpus import Corpus, Utterance
from loadgen.live.session import SessionSettings, StreamSession
from loadgen.telemetry.metrics import LoadgenMetrics, StreamObservers

PER_FILE, CONTINUOUS = "per-file", "continuous"
IDLE_END = "idle_end"  # error_kind of an idle session stopped at the end of the run or pool
INTERRUPTED_KIND = "interrupted"  # error_kind of a session the generator cancelled (task.cancel(msg) sets it)
ResultSink = Callable[[SessionResult], None]


@dataclass(frozen=True)
class LoadShape:
    """How many clients, for how long, in which mode."""

    num_clients: int
    duration_s: float | None = None  # None: each client streams the corpus once
    mode: str = PER_FILE
    connect_rate: float = 5.0  # clients started per second
    gap_s: float = 1.0  # silence between files in continuous mode
    speech: SpeechActivity | None = None  # continuous mode: talk spurts and pauses instead of the gap
    idle: IdleClients = field(default_factory=lambda: IdleClients())
    session_length: SessionLength | None = None  # continuous: sessions of these lengths back to back
    seed: int = DEFAULT_SEED  # of the session lengths: client i draws from its own generator


@dataclass(frozen=True)
class IdleClients:
    """`count` extra connections that complete the handshake, then send silence or nothing until the run
    (or the pool) ends; recorded with `idle: true`, never measured."""

    count: int = 0
    mode: str = IDLE_SILENCE


@dataclass(frozen=True)
class SessionAudio:
    """What one session streams: utterances, with `pauses_s[i]` of silence before utterance i, or (None)
    the launcher's gap between consecutive ones."""

    utterances: list[Utterance]
    pauses_s: tuple[float, ...] | None = None


def session_audio(
    corpus: Corpus,
    mode: str,
    client: int,
    seq: int,
    length_s: float | None,
    gap_s: float,
    speech: SpeechActivity | None = None,
) -> SessionAudio:
    """What session `seq` of `client` streams: one file, or (continuous) files filling `length_s`, with
    `speech`'s pauses between them when given."""
    n = len(corpus.utterances)
    if mode == CONTINUOUS:
        durations = [u.duration_s for u in corpus.utterances]
        if speech is not None:
            layout = speech.layout(
                client, seq, durations, corpus.duration_s if length_s is None else length_s
            )
            return SessionAudio([corpus.utterances[i] for i in layout.utterances], layout.pauses_s)
        indexes = continuous_selection(client + seq, durations, length_s, gap_s)
        return SessionAudio([corpus.utterances[i] for i in indexes])
    return SessionAudio([corpus.utterances[(client + seq) % n]])


class SessionLauncher:
    """Runs one session at a time for any client; counts streaming sessions; hands results to sinks."""

    def __init__(
        self,
        settings: SessionSettings,
        metrics: LoadgenMetrics,
        sinks: Sequence[ResultSink] = (),
        gap_s: float = 1.0,
        on_ready: ResultSink = lambda _result: None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.sinks = list(sinks)
        self.on_ready = on_ready
        self._gap = silence(gap_s)
        self.streams = 0
        self.peak_streams = 0

    async def run(
        self, client: int, seq: int, audio: SessionAudio, length_s: float | None = None
    ) -> SessionResult:
        """Stream `audio` as one session (then silence up to `length_s` seconds of audio, when given); a
        cancelled session is recorded as stopped, then re-raised."""
        utterances = audio.utterances
        if audio.pauses_s is None:
            plan = build_plan([u.audio for u in utterances], self._gap)
        else:
            plan = build_talk_plan([u.audio for u in utterances], audio.pauses_s)
        if length_s is not None:
            plan = padded(plan, length_s)
        return await self._run(client, seq, plan, [u.name for u in utterances], _reference(utterances))

    async def run_idle(self, client: int, mode: str, retry_s: float = 1.0) -> None:
        """An idle client until cancelled: a session of the handshake, then `mode` (silence or nothing),
        reopened `retry_s` after it fails; not counted among the streams, never scored."""
        for seq in itertools.count():
            await self._run(client, seq, StreamPlan(()), [], None, idle=mode)
            await asyncio.sleep(retry_s)

    async def _run(
        self,
        client: int,
        seq: int,
        plan: StreamPlan,
        names: list[str],
        reference: str | None,
        idle: str | None = None,
    ) -> SessionResult:
        ratio = plan.speech_ratio
        result = SessionResult(
            client=client,
            seq=seq,
            uid=str(uuid.uuid4()),
            utterances=names,
            started_at=time.time(),
            speech_s=round(plan.speech_s, 3),
            speech_ratio=None if ratio is None else round(ratio, 4),
            idle=idle is not None,
        )
        on_ready = (lambda: None) if idle is not None else (lambda: self._ready(result))
        telemetry = self.metrics if idle is None else _Unwindowed(self.metrics)
        session = StreamSession(self.settings, plan, result, reference, telemetry, on_ready, idle=idle)
        try:
            await session.run()
        except asyncio.CancelledError as exc:
            kind = str(exc.args[0]) if exc.args and exc.args[0] else INTERRUPTED_KIND
            result.fail(STOPPED, kind, "the load generator ended the session")
            raise
        finally:
            result.ended_at = time.time()
            if result.server_ready_s is not None and idle is None:
                self._count(-1)
            self.metrics.session_finished(result)
            for sink in self.sinks:
                sink(result)
        return result

    def _ready(self, result: SessionResult) -> None:
        self._count(+1)
        self.on_ready(result)

    def _count(self, delta: int) -> None:
        self.streams += delta
        self.peak_streams = max(self.peak_streams, self.streams)
        self.metrics.active_clients.set(self.streams)


class LoadRunner:
    """Runs `shape.num_clients` concurrent clients against one endpoint."""

    def __init__(
        self,
        settings: SessionSettings,
        corpus: Corpus,
        shape: LoadShape,
        metrics: LoadgenMetrics,
        sinks: Sequence[ResultSink] = (),
    ) -> None:
        self.metrics = metrics
        self.corpus = corpus
        self.shape = shape
        self.record = RunRecord(started_at=time.time())
        self.launcher = SessionLauncher(settings, metrics, [self.record.results.append, *sinks], shape.gap_s)

    async def run(self) -> RunRecord:
        """Run every client to its end; sessions already started always finish."""
        self.metrics.target_clients.set(self.shape.num_clients)
        start = time.monotonic()
        deadline = start + self.shape.duration_s if self.shape.duration_s is not None else None
        clients = [self._client(i, start, deadline) for i in range(self.shape.num_clients)]
        idle = [
            asyncio.create_task(self.launcher.run_idle(i, self.shape.idle.mode), name=f"idle-{i}")
            for i in range(self.shape.idle.count)
        ]
        try:
            await asyncio.gather(*clients)
        finally:
            for task in idle:
                task.cancel(IDLE_END)
            await asyncio.gather(*idle, return_exceptions=True)
            self.record.ended_at = time.time()
            self.record.peak_streams = self.launcher.peak_streams
        return self.record

    async def _client(self, client: int, start: float, deadline: float | None) -> None:
        await asyncio.sleep(
            max(0.0, start + start_offset(client, self.shape.connect_rate) - time.monotonic())
        )
        shape, n = self.shape, len(self.corpus.utterances)
        if shape.mode == CONTINUOUS and shape.session_length is not None:
            await self._sessions_of_sampled_lengths(client, shape.session_length, deadline)
            return
        if shape.mode == CONTINUOUS:
            audio = session_audio(
                self.corpus, CONTINUOUS, client, 0, shape.duration_s, shape.gap_s, shape.speech
            )
            await self.launcher.run(client, 0, audio)
            return
        for seq in itertools.count():
            if (deadline is None and seq >= n) or (deadline is not None and time.monotonic() >= deadline):
                return
            await self.launcher.run(client, seq, session_audio(self.corpus, PER_FILE, client, seq, None, 0.0))

    async def _sessions_of_sampled_lengths(
        self, client: int, length: SessionLength, deadline: float | None
    ) -> None:
        """Continuous sessions back to back, each of a length drawn from the client's own generator,
        until the deadline (one session without one)."""
        rng = random.Random(f"{self.shape.seed}:{client}")
        for seq in itertools.count():
            if seq and (deadline is None or time.monotonic() >= deadline):
                return
            audio = session_audio(
                self.corpus, CONTINUOUS, client, seq, length.sample(rng), self.shape.gap_s, self.shape.speech
            )
            await self.launcher.run(client, seq, audio)


class _Unwindowed:
    """An idle session's telemetry: the metrics' own observers, never teed into a measurement window
    (`loadgen.live.service.WindowedMetrics` overrides `stream_observers` to tee)."""

    def __init__(self, metrics: LoadgenMetrics) -> None:
        self.metrics = metrics

    def stream_observers(self, replica: str) -> StreamObservers:
        """The Prometheus observers alone."""
        return LoadgenMetrics.stream_observers(self.metrics, replica)

    def reconnect_attempt(self, ok: bool) -> None:
        """Counted as any session's."""
        self.metrics.reconnect_attempt(ok)

    def reconnected(self, duration_s: float, audio_lost_s: float) -> None:
        """Counted as any session's."""
        self.metrics.reconnected(duration_s, audio_lost_s)

def _reference(utterances: list[Utterance]) -> str | None:
    if any(u.reference is None for u in utterances):
        return None
    return " ".join(u.reference or "" for u in utterances)
