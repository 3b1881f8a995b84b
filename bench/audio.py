"""The corpus as one float32 PCM byte string, for the anchor clients (they stream it round and round)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from loadgen.data.corpus import load_corpus


def corpus_pcm(audio_dir: Path) -> bytes:
    """Every utterance of the corpus back to back, float32 16 kHz mono."""
    corpus = load_corpus(audio_dir, require_reference=False)
    return np.concatenate([u.audio for u in corpus.utterances]).astype(np.float32).tobytes()


@dataclass
class NaiveSchedule:
    """The anchors' pacing bookkeeping: chunk k of the corpus (round and round), and each send's
    `(due time, slip against t0 + k·chunk, wake lateness)` row appended to `slips`."""

    audio: bytes
    chunk_s: float
    t0: float
    slips: list[tuple[float, float, float]]
    k: int = 0
    step: int = field(init=False)  # bytes per chunk (float32)
    previous: float = field(init=False)  # when the previous send started

    def __post_init__(self) -> None:
        self.step = int(self.chunk_s * 16000) * 4
        self.previous = self.t0 - self.chunk_s

    def next_chunk(self, now: float) -> bytes:
        """Record the send starting `now` and return its chunk."""
        due = self.t0 + self.k * self.chunk_s
        self.slips.append((due, now - due, now - self.previous - self.chunk_s))
        self.previous = now
        offset = (self.k * self.step) % (len(self.audio) - self.step)
        self.k += 1
        return self.audio[offset : offset + self.step]
