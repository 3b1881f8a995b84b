"""Open-model sessions: each arrival starts one session at its own time, whatever the server does.

`ArrivalLauncher` starts the sessions of a sequence of `Arrival`s (a seeded Poisson or constant process,
or a trace) through the runner's `SessionLauncher`, each streaming `length_s` seconds of audio. An arrival
that finds `max_concurrency` sessions in flight (connecting or streaming) is dropped and counted, like
k6's dropped_iterations. `OpenRunner` is `loadgen run --arrival/--trace`: one replay to its end.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from loadgen.core.arrivals import Arrival
from loadgen.core.errors import UsageError
from loadgen.core.schedule import continuous_selection
from loadgen.core.session_result import RunRecord
from loadgen.core.speech import SpeechActivity
from loadgen.data.corpus import Corpus
from loadgen.live.runner import SessionAudio, SessionLauncher


def arrival_audio(
    corpus: Corpus, arrival: Arrival, index: int, gap_s: float, speech: SpeechActivity | None = None
) -> SessionAudio:
    """What arrival `index` streams: with `speech`, the talk spurts and pauses that end within its length
    (a trace's `profile` picks the speaking profile of that name); else corpus files back to back from its
    `file` (or from file `index`), as many as fit in its length (at least one). The launcher pads the rest
    with silence."""
    durations = [u.duration_s for u in corpus.utterances]
    if speech is not None:
        layout = speech.layout(index, 0, durations, arrival.length_s, arrival.profile, within=True)
        return SessionAudio([corpus.utterances[i] for i in layout.utterances], layout.pauses_s)
    start = index if arrival.file is None else file_index(corpus, arrival.file)
    chosen = continuous_selection(start, durations, arrival.length_s, gap_s, True)
    return SessionAudio([corpus.utterances[i] for i in chosen])


def file_index(corpus: Corpus, name: str) -> int:
    """The corpus position of the file a trace names; a usage error when the corpus has none."""
    for i, utterance in enumerate(corpus.utterances):
        if utterance.name == name:
            return i
    raise UsageError(f"the trace names file {name!r}, which is not in the corpus {corpus.root}")


@dataclass
class Launches:
    """What the arrivals became: how late each launched session started, and how many were dropped."""

    late_s: list[float] = field(default_factory=list)
    dropped: int = 0


class ArrivalLauncher:
    """Starts a session per arrival at its time; sessions run as their own tasks."""

    def __init__(
        self,
        launcher: SessionLauncher,
        corpus: Corpus,
        gap_s: float,
        max_concurrency: int | None = None,
        speech: SpeechActivity | None = None,
        on_drop: Callable[[], None] | None = None,
    ) -> None:
        self.launcher = launcher
        self.on_drop = on_drop  # told of each dropped arrival (the service counts it in its window)
        self.corpus = corpus
        self.gap_s = gap_s
        self.speech = speech
        self.max_concurrency = max_concurrency
        self.launches = Launches()
        self.in_flight: set[asyncio.Task[object]] = set()
        self._failure: BaseException | None = None

    async def replay(self, arrivals: Iterable[Arrival], t0: float) -> None:
        """Launch each arrival at `t0` (monotonic seconds) plus its start offset; raises a session's crash."""
        for arrival in arrivals:
            due = t0 + arrival.start_s
            if (wait := due - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            if self._failure is not None:
                raise self._failure
            self.launch(arrival, time.monotonic() - due)

    def launch(self, arrival: Arrival, late_s: float) -> None:
        """Start the arrival's session now, or drop it when `max_concurrency` sessions are in flight."""
        if self.max_concurrency is not None and len(self.in_flight) >= self.max_concurrency:
            self.launches.dropped += 1
            if self.on_drop is not None:
                self.on_drop()
            return
        index = len(self.launches.late_s)
        self.launches.late_s.append(late_s)
        audio = arrival_audio(self.corpus, arrival, index, self.gap_s, self.speech)
        task = asyncio.create_task(
            self.launcher.run(index, 0, audio, arrival.length_s), name=f"arrival-{index}"
        )
        self.in_flight.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[object]) -> None:
        self.in_flight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._failure = task.exception()

    async def drain(self) -> None:
        """Wait for every session in flight to end; raises a session's crash."""
        while self.in_flight:
            await asyncio.wait(set(self.in_flight))
        if self._failure is not None:
            raise self._failure

    async def stop(self, kind: str) -> None:
        """Cancel every session in flight (recorded as stopped, `kind`) and wait until they are recorded."""
        tasks = list(self.in_flight)
        for task in tasks:
            task.cancel(kind)
        await asyncio.gather(*tasks, return_exceptions=True)


class OpenRunner:
    """`loadgen run` in open mode: replay the arrivals, then let every session end."""

    def __init__(
        self,
        launcher: SessionLauncher,
        corpus: Corpus,
        gap_s: float,
        max_concurrency: int | None,
        speech: SpeechActivity | None = None,
    ) -> None:
        self.arrivals = ArrivalLauncher(launcher, corpus, gap_s, max_concurrency, speech)
        self.record = RunRecord(started_at=time.time())

    async def run(self, schedule: Sequence[Arrival]) -> RunRecord:
        """Replay `schedule` from now; a cancelled run stops its sessions (each still recorded)."""
        launcher = self.arrivals.launcher
        self.record = RunRecord(started_at=time.time())
        launcher.sinks.insert(0, self.record.results.append)
        try:
            await self.arrivals.replay(schedule, time.monotonic())
            await self.arrivals.drain()
        finally:
            await self.arrivals.stop("stopped")
            self.record.ended_at = time.time()
            self.record.peak_streams = launcher.peak_streams
        return self.record
