"""Mergeable latency histograms (HdrHistogram, 3 significant digits) for step windows.

A window's percentiles cannot be merged across shards; its histogram can. Values are recorded in
microseconds from 1 µs to 1 hour; negative values (a transcript ahead of its schedule cannot happen,
but a clock step could) are clamped to 1 µs. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt
from hdrh.histogram import HdrHistogram
from scipy.stats import binom

from loadgen.core.kpi import LatencyStats

_MICRO = 1_000_000
_LOWEST, _HIGHEST, _DIGITS = 1, 3_600 * _MICRO, 3


def _new() -> HdrHistogram:
    return HdrHistogram(_LOWEST, _HIGHEST, _DIGITS)


class LatencyHistogram:
    """An HdrHistogram fed one sample at a time, encoded as often as it is read."""

    def __init__(self) -> None:
        self._histogram = _new()

    def record(self, value: float) -> None:
        """Record one sample (seconds)."""
        self._histogram.record_value(min(max(round(value * _MICRO), _LOWEST), _HIGHEST))

    def encode(self) -> str:
        """The compressed, base64 histogram of everything recorded."""
        return self._histogram.encode().decode("ascii")


def encode(samples: Sequence[float]) -> str:
    """The compressed, base64 histogram of `samples` (seconds)."""
    histogram = LatencyHistogram()
    for value in samples:
        histogram.record(value)
    return histogram.encode()


def _merged(encoded: Iterable[str]) -> HdrHistogram:
    total = _new()
    for text in encoded:
        total.add(HdrHistogram.decode(text.encode("ascii")))
    return total


def merged(encoded: Iterable[str]) -> str:
    """One encoded histogram of the union of encoded histograms."""
    return _merged(encoded).encode().decode("ascii")


def share_at_most(encoded: Iterable[str], limit_s: float) -> float | None:
    """The share of the samples at or below `limit_s` (None when there are none). A sample in the
    histogram bucket holding the limit counts as at or below it (3 significant digits: the limit is
    resolved to 0.1 %)."""
    total = _merged(encoded)
    count = total.get_total_count()
    if not count:
        return None
    lowest, counts = _buckets(total)
    return int(counts[lowest <= round(limit_s * _MICRO)].sum()) / count


def quantile_interval(
    encoded: Iterable[str], quantile: float = 0.95, confidence: float = 0.95
) -> tuple[float, float] | None:
    """A distribution-free confidence interval for a quantile (seconds): the order statistics of ranks
    l and u around n·q that the binomial(n, q) distribution puts the quantile between with probability
    `confidence` (docs/METRICS.md), widened to the edges of their histogram buckets. None without
    samples; with too few samples for the wanted confidence the interval runs to the smallest or largest
    sample."""
    total = _merged(encoded)
    n = total.get_total_count()
    if not n:
        return None
    tail = (1 - confidence) / 2
    low_rank = max(int(binom.ppf(tail, n, quantile)), 1)  # 1-based ranks into the sorted samples
    high_rank = min(int(binom.ppf(1 - tail, n, quantile)) + 1, n)
    lowest, counts = _buckets(total)
    cumulative = np.cumsum(counts)

    def at(rank: int) -> int:
        return int(lowest[int(np.searchsorted(cumulative, rank))])

    # the bounds widen to the edges of their buckets, so the interval holds the samples it is made of
    low, high = at(low_rank), total.get_highest_equivalent_value(at(high_rank))
    return low / _MICRO, high / _MICRO


def _buckets(histogram: HdrHistogram) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The lowest equivalent value (µs) and the count of every non-empty bucket, in value order."""
    counts = np.ctypeslib.as_array(histogram.counts)[: histogram.counts_len]
    used = np.flatnonzero(counts)
    lowest = np.array([histogram.get_value_from_index(int(i)) for i in used], dtype=np.int64)
    return lowest, counts[used].astype(np.int64)


def merged_block(encoded: Iterable[str]) -> LatencyStats | None:
    """count/avg/p50/p95/p99/max (seconds) of the union of encoded histograms; None when empty."""
    total = _merged(encoded)
    count = total.get_total_count()
    if not count:
        return None
    stats = LatencyStats(
        count=count,
        avg=total.get_mean_value() / _MICRO,
        p50=total.get_value_at_percentile(50) / _MICRO,
        p95=total.get_value_at_percentile(95) / _MICRO,
        p99=total.get_value_at_percentile(99) / _MICRO,
        max=total.get_max_value() / _MICRO,
    )
    return stats.rounded()
