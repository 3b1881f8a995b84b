"""KPI maths: latency statistics and word error rate. Pure functions over values.

Percentiles pool every sample of a run (numpy's linear interpolation). WER normalizes reference and
hypothesis with Whisper's English normalizer (whisper-normalizer) before jiwer aligns them; corpus WER
is the sum of word errors over the sum of reference words, never an average of per-session rates.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache

import jiwer
import numpy as np
from whisper_normalizer.english import EnglishTextNormalizer


@dataclass(frozen=True)
class LatencyStats:
    """Summary of one latency's samples, in seconds; NaN when there are none."""

    count: int
    avg: float
    p50: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> LatencyStats:
        """Pool `samples` into count, mean, percentiles and maximum."""
        if not samples:
            nan = math.nan
            return cls(0, nan, nan, nan, nan, nan)
        values = np.asarray(samples, dtype=np.float64)
        p50, p95, p99 = np.percentile(values, [50, 95, 99])
        return cls(len(values), float(values.mean()), float(p50), float(p95), float(p99), float(values.max()))

    def rounded(self) -> LatencyStats:
        """The same, to 0.1 ms: as windows write it."""
        return LatencyStats(
            self.count, *(round(v, 4) for v in (self.avg, self.p50, self.p95, self.p99, self.max))
        )


@dataclass(frozen=True)
class WordErrors:
    """Word-level alignment counts of one hypothesis against its reference."""

    substitutions: int
    deletions: int
    insertions: int
    reference_words: int

    @property
    def errors(self) -> int:
        """Substitutions + deletions + insertions."""
        return self.substitutions + self.deletions + self.insertions

    @property
    def wer(self) -> float:
        """Errors per reference word (NaN for an empty reference)."""
        return self.errors / self.reference_words if self.reference_words else math.nan


@cache
def _normalizer() -> EnglishTextNormalizer:
    return EnglishTextNormalizer()


def normalize(text: str) -> str:
    """Whisper's English normalization: case, punctuation, numbers, spellings, fillers."""
    return " ".join(_normalizer()(text).split())


def word_errors(reference: str, hypothesis: str) -> WordErrors:
    """Align the normalized hypothesis against the normalized reference."""
    ref, hyp = normalize(reference), normalize(hypothesis)
    if not ref:
        return WordErrors(0, 0, len(hyp.split()), 0)
    if not hyp:
        n = len(ref.split())
        return WordErrors(0, n, 0, n)
    out = jiwer.process_words(ref, hyp)
    return WordErrors(out.substitutions, out.deletions, out.insertions, len(ref.split()))


def total_word_errors(results: Iterable[WordErrors]) -> WordErrors:
    """Substitutions, deletions, insertions and reference words summed."""
    s = d = i = n = 0
    for r in results:
        s, d, i, n = s + r.substitutions, d + r.deletions, i + r.insertions, n + r.reference_words
    return WordErrors(s, d, i, n)


def corpus_wer(results: Iterable[WordErrors]) -> float:
    """Sum of errors over sum of reference words (NaN when there are no reference words)."""
    errors = words = 0
    for r in results:
        errors += r.errors
        words += r.reference_words
    return errors / words if words else math.nan


def ratio(part: int, whole: int) -> float:
    """part/whole, NaN for an empty whole."""
    return part / whole if whole else math.nan
