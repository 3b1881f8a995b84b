"""The runner owns concurrency: how many clients, when they start, which audio each session streams.

Measurement lives in `StreamSession`; the runner only schedules sessions and hands each finished
`SessionResult` to the sinks (results file, metrics) as soon as it ends.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from loadgen.corpus import Corpus, Utterance
from loadgen.metrics import LoadgenMetrics
from loadgen.schedule import continuous_selection, start_offset, utterance_cycle
from loadgen.session import SessionSettings, StreamSession
from loadgen.session_result import DROPPED, SessionResult
from loadgen.stream_audio import build_plan, silence

PER_FILE, CONTINUOUS = "per-file", "continuous"
ResultSink = Callable[[SessionResult], None]


@dataclass(frozen=True)
class LoadShape:
    """How many clients, for how long, in which mode."""

    num_clients: int
    duration_s: float | None = None  # None: each client streams the corpus once
    mode: str = PER_FILE
    connect_rate: float = 5.0  # clients started per second
    gap_s: float = 1.0  # silence between files in continuous mode


@dataclass
class RunRecord:
    """What the run as a whole did, beyond its sessions."""

    started_at: float
    ended_at: float = 0.0
    peak_streams: int = 0
    results: list[SessionResult] = field(default_factory=list)


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
        self.settings = settings
        self.metrics = metrics
        self.corpus = corpus
        self.shape = shape
        self.sinks = sinks
        self._gap = silence(shape.gap_s)
        self._streams = 0
        self.record = RunRecord(started_at=time.time())

    async def run(self) -> RunRecord:
        """Run every client to its end; sessions already started always finish."""
        self.metrics.target_clients.set(self.shape.num_clients)
        start = time.monotonic()
        deadline = start + self.shape.duration_s if self.shape.duration_s is not None else None
        clients = [self._client(i, start, deadline) for i in range(self.shape.num_clients)]
        try:
            await asyncio.gather(*clients)
        finally:
            self.record.ended_at = time.time()
        return self.record

    async def _client(self, client: int, start: float, deadline: float | None) -> None:
        await asyncio.sleep(
            max(0.0, start + start_offset(client, self.shape.connect_rate) - time.monotonic())
        )
        if self.shape.mode == CONTINUOUS:
            await self._session(client, 0, self._continuous_utterances(client))
            return
        cycle = utterance_cycle(client, len(self.corpus.utterances))
        for seq in itertools.count():
            if deadline is None and seq >= len(self.corpus.utterances):
                return
            if deadline is not None and time.monotonic() >= deadline:
                return
            await self._session(client, seq, [self.corpus.utterances[next(cycle)]])

    def _continuous_utterances(self, client: int) -> list[Utterance]:
        durations = [u.duration_s for u in self.corpus.utterances]
        indexes = continuous_selection(client, durations, self.shape.duration_s, self.shape.gap_s)
        return [self.corpus.utterances[i] for i in indexes]

    async def _session(self, client: int, seq: int, utterances: list[Utterance]) -> None:
        result = SessionResult(
            client=client,
            seq=seq,
            uid=str(uuid.uuid4()),
            utterances=[u.name for u in utterances],
            started_at=time.time(),
        )
        plan = build_plan([u.audio for u in utterances], self._gap)
        reference = _reference(utterances)
        session = StreamSession(self.settings, plan, result, reference, self.metrics, self._stream_started)
        try:
            await session.run()
        except asyncio.CancelledError:
            result.fail(DROPPED, "interrupted", "the load generator stopped mid-session")
            raise
        finally:
            if result.server_ready_s is not None:
                self._streams -= 1
                self.metrics.active_clients.set(self._streams)
            self.record.results.append(result)
            self.metrics.session_finished(result)
            for sink in self.sinks:
                sink(result)

    def _stream_started(self) -> None:
        self._streams += 1
        self.metrics.active_clients.set(self._streams)
        self.record.peak_streams = max(self.record.peak_streams, self._streams)


def _reference(utterances: list[Utterance]) -> str | None:
    if any(u.reference is None for u in utterances):
        return None
    return " ".join(u.reference or "" for u in utterances)
