"""The corpus as one float32 PCM byte string, for the anchor clients (they stream it round and round)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from loadgen.corpus import load_corpus


def corpus_pcm(audio_dir: Path) -> bytes:
    """Every utterance of the corpus back to back, float32 16 kHz mono."""
    corpus = load_corpus(audio_dir, require_reference=False)
    return np.concatenate([u.audio for u in corpus.utterances]).astype(np.float32).tobytes()
