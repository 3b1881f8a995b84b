"""Mergeable latency histograms (HdrHistogram, 3 significant digits) for step windows.

A window's percentiles cannot be merged across shards; its histogram can. Values are recorded in
microseconds from 1 µs to 1 hour; negative values (a transcript ahead of its schedule cannot happen,
but a clock step could) are clamped to 1 µs. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from hdrh.histogram import HdrHistogram

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


def merged_block(encoded: Iterable[str]) -> LatencyStats | None:
    """count/avg/p50/p95/p99/max (seconds) of the union of encoded histograms; None when empty."""
    total = _new()
    for text in encoded:
        total.add(HdrHistogram.decode(text.encode("ascii")))
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
