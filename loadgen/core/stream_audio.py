"""What one session streams: utterances back to back, silence between them, cut into live chunks.

Pure: the chunks are zero-copy views of the corpus' shared read-only buffers, so a thousand streams
of the same file hold one copy of it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from loadgen.core.protocol import SAMPLE_RATE


@dataclass(frozen=True)
class Chunk:
    """One send: float32 little-endian samples and the stream position (seconds) where it ends."""

    data: memoryview
    end_s: float


@dataclass(frozen=True)
class StreamPlan:
    """The audio of one session: pieces (speech or silence) in order; `silent`: the indices of the
    pieces that are silence (the gaps between utterances)."""

    pieces: tuple[np.ndarray, ...]
    silent: frozenset[int] = frozenset()

    @property
    def n_samples(self) -> int:
        """Total samples streamed before the end-of-stream tail."""
        return sum(len(p) for p in self.pieces)

    @property
    def duration_s(self) -> float:
        """Seconds of audio streamed before the end-of-stream tail."""
        return self.n_samples / SAMPLE_RATE

    @property
    def speech_s(self) -> float:
        """Seconds of speech (the pieces that are not silence)."""
        return sum(len(p) for i, p in enumerate(self.pieces) if i not in self.silent) / SAMPLE_RATE

    @property
    def speech_ratio(self) -> float | None:
        """Speech seconds / audio seconds (None: an empty plan)."""
        return self.speech_s / self.duration_s if self.n_samples else None

    def speech_spans(self) -> list[tuple[float, float]]:
        """Where the utterances are in the stream: (start, end) seconds of each speech piece."""
        spans, position = [], 0
        for i, piece in enumerate(self.pieces):
            if i not in self.silent and len(piece):
                spans.append((position / SAMPLE_RATE, (position + len(piece)) / SAMPLE_RATE))
            position += len(piece)
        return spans


def speech_between(spans: Sequence[tuple[float, float]], start_s: float, end_s: float) -> float:
    """Seconds of speech (`spans`, sorted) between stream positions `start_s` and `end_s`."""
    return sum(max(0.0, min(end, end_s) - max(begin, start_s)) for begin, end in spans)


def speech_reached(spans: Sequence[tuple[float, float]], start_s: float, amount_s: float) -> float | None:
    """The stream position where `amount_s` seconds of speech have been streamed since `start_s`
    (None: the plan holds less speech than that after `start_s`)."""
    left = amount_s
    for begin, end in spans:
        begin = max(begin, start_s)
        if end > begin:
            if end - begin >= left:
                return begin + left
            left -= end - begin
    return None


def silence(seconds: float) -> np.ndarray:
    """A read-only float32 buffer of zeros, one per length for the whole process (every session's tail
    and gaps share it: a thousand sessions hold one copy)."""
    return _zeros(round(seconds * SAMPLE_RATE))


@functools.lru_cache(maxsize=32)
def _zeros(samples: int) -> np.ndarray:
    buf = np.zeros(samples, dtype=np.float32)
    buf.flags.writeable = False
    return buf


def build_plan(utterances: Sequence[np.ndarray], gap: np.ndarray | None = None) -> StreamPlan:
    """Utterances back to back, with `gap` (a silence buffer) between consecutive ones."""
    pieces: list[np.ndarray] = []
    silent: set[int] = set()
    for i, audio in enumerate(utterances):
        if i and gap is not None and len(gap):
            silent.add(len(pieces))
            pieces.append(gap)
        pieces.append(audio)
    return StreamPlan(tuple(pieces), frozenset(silent))


PAUSE_PIECE_S = 30.0  # a pause is cut into views of one shared buffer of this length


def build_talk_plan(utterances: Sequence[np.ndarray], pauses_s: Sequence[float]) -> StreamPlan:
    """Each utterance after its pause (`pauses_s[i]` seconds of silence, 0: none): talk spurts and
    pauses (loadgen.core.speech). A pause is one or more read-only views of one shared zero buffer, so
    pauses of any length cost no memory."""
    pieces: list[np.ndarray] = []
    silent: set[int] = set()
    for audio, pause_s in zip(utterances, pauses_s, strict=True):
        for view in _pause(pause_s):
            silent.add(len(pieces))
            pieces.append(view)
        pieces.append(audio)
    return StreamPlan(tuple(pieces), frozenset(silent))


def padded(plan: StreamPlan, seconds: float) -> StreamPlan:
    """The plan followed by silence up to `seconds` of audio (unchanged when it is that long already)."""
    pause = _pause(seconds - plan.duration_s)
    if not pause:
        return plan
    first = len(plan.pieces)
    return StreamPlan((*plan.pieces, *pause), plan.silent | set(range(first, first + len(pause))))


def _pause(seconds: float) -> list[np.ndarray]:
    """`seconds` of silence as views of one shared buffer (none when under a sample)."""
    shared = silence(PAUSE_PIECE_S)
    samples, step = round(seconds * SAMPLE_RATE), len(shared)
    return [shared[: min(step, samples - begin)] for begin in range(0, max(0, samples), step)]


def chunks(plan: StreamPlan, chunk_samples: int) -> Iterator[Chunk]:
    """Cut the plan into chunks of `chunk_samples`; a piece's last chunk may be short (never merged)."""
    position = 0
    for piece in plan.pieces:
        view = memoryview(piece.data).cast("B")
        width = piece.itemsize
        for begin in range(0, len(piece), chunk_samples):
            end = min(begin + chunk_samples, len(piece))
            yield Chunk(view[begin * width : end * width], (position + end) / SAMPLE_RATE)
        position += len(piece)
