"""Corpora cut short for tests: sessions end sooner, and the simulator, which knows an utterance by its
first samples and transcribes it for as long as it lasts, settles once the clip ends."""

from __future__ import annotations

from dataclasses import replace

from loadgen.core.protocol import SAMPLE_RATE
from loadgen.data.corpus import Corpus


def clipped(corpus: Corpus, seconds: float) -> Corpus:
    """The corpus with every utterance cut to its first `seconds`."""
    n = int(seconds * SAMPLE_RATE)
    return replace(corpus, utterances=tuple(replace(u, audio=u.audio[:n]) for u in corpus.utterances))
