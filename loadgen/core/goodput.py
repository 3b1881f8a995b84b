"""Goodput of a window: real-time streams served on time and whole (docs/METRICS.md). Pure.

    goodput = max(transcribed_audio_s * on_time_share - audio_untranscribed_s, 0) / duration_s

`transcribed_audio_s` is how far the windows' transcript frontiers advanced (what `throughput` divides
by the duration); `on_time_share` is the share of the window's transcript-lag samples at or below the
SLO lag, read from its HdrHistogram (each sample is one advance of a frontier, so the share weighs
advances, not seconds of audio); `audio_untranscribed_s` is the speech of the sessions that ended in the
window that no received segment covered (a frontier that jumps over skipped audio counts it as
transcribed: this takes it back out).
"""

from __future__ import annotations

from loadgen.core.latency_hist import share_at_most
from loadgen.core.records import WindowSnapshot

TRANSCRIPT_LAG = "transcript_lag"


def on_time_share(window: WindowSnapshot, slo_s: float) -> float | None:
    """The share of the window's transcript-lag samples within `slo_s` (None: no histogram written)."""
    encoded = (window.histograms or {}).get(TRANSCRIPT_LAG)
    return None if encoded is None else share_at_most([encoded], slo_s)


def goodput(window: WindowSnapshot, slo_s: float | None) -> float | None:
    """Streams served on time and whole, in real-time streams (None: no SLO, an empty window, or
    frontiers that advanced without a lag histogram to judge them by). A window without
    `audio_untranscribed_s` (written before it was measured) subtracts nothing."""
    if slo_s is None or window.duration_s <= 0:
        return None
    share = on_time_share(window, slo_s)
    if share is None:
        return 0.0 if window.transcribed_audio_s == 0 else None
    served = window.transcribed_audio_s * share - (window.audio_untranscribed_s or 0.0)
    return round(max(served, 0.0) / window.duration_s, 4)
