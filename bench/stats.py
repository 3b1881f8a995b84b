"""Pure arithmetic of the benchmarks: steady-state slips, quantiles, memory per stream."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from loadgen.core.session_result import SessionResult

SETTLE_S = 1.0  # after the last client got SERVER_READY, before slips count as steady state


def steady_slips(
    t0s: np.ndarray,
    rows: np.ndarray,
    settle_s: float = SETTLE_S,
    column: int = 1,
    until: float = math.inf,
) -> np.ndarray:
    """A column (default: the slip) of the sends due while every client was streaming: from `settle_s`
    after the last client got ready until `until`, when the first one stops (the anchors' clients all
    stop at one deadline; ours each stream the same length from their own start, so they stop one after
    another at the connect rate, and those endings are not N concurrent streams).

    `rows` columns: due time, slip against the ideal schedule, and for the anchors the wake lateness.
    """
    if not len(t0s) or not len(rows):
        return np.empty(0)
    due = rows[:, 0]
    return rows[(due >= t0s.max() + settle_s) & (due <= until), column]


def _t0(r: SessionResult) -> float:
    """When the session's stream started (SERVER_READY), on the wall clock of `started_at`."""
    return r.started_at + (r.connect_s or 0.0) + (r.server_ready_s or 0.0)


def session_slips(results: Sequence[SessionResult], chunk_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(t0s, (due, slip) pairs) of the load generator's sessions, on the wall clock of `started_at`.

    Due times assume uniform chunks (a file boundary shortens one chunk), which is close enough to tell
    steady state from the connection ramp.
    """
    t0s, pairs = [], []
    for r in results:
        if r.server_ready_s is None:
            continue
        t0 = _t0(r)
        t0s.append(t0)
        dues = t0 + chunk_s * np.arange(1, len(r.send_slips_s) + 1)
        pairs.append(np.column_stack([dues, r.send_slips_s]))
    return np.array(t0s), (np.concatenate(pairs) if pairs else np.empty((0, 2)))


def first_speech_end(results: Sequence[SessionResult]) -> float:
    """When the first session stopped streaming speech (its trailing silence and close follow)."""
    ends = [_t0(r) + r.audio_sent_s for r in results if r.server_ready_s is not None]
    return min(ends, default=math.inf)


def quantile_ms(values: np.ndarray, q: float) -> float | None:
    """The q-quantile (0..100) in milliseconds; None without values."""
    return float(np.percentile(values, q) * 1000) if len(values) else None


def bytes_per_stream(points: Sequence[tuple[int, int]]) -> float | None:
    """Slope of resident memory against concurrent streams (least squares); None below two points."""
    if len({n for n, _ in points}) < 2:
        return None
    streams, rss = np.array(points, dtype=float).T
    return float(np.polyfit(streams, rss, 1)[0])
