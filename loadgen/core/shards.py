"""Sharded load: K generators split each step's clients and step together on wall-clock boundaries,
with no coordinator; their step records merge into one. Pure.

Shard i of K runs `share(clients, i, K)` of a step's clients (the first `clients % K` shards one more).
Every shard starts step 0 at the same aligned time (the next multiple of `align_s` at least `lead_s`
away, or an explicit `--start-at`) and step k at `t0 + k * period`, where the period is long enough for
the largest ramp-up, the warm-up and the hold. Sharded runs take explicit schedules only: an adaptive
search needs the combined verdict of a step before choosing the next, which no shard has.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from loadgen.core.latency_hist import merged, merged_block
from loadgen.core.records import (
    LATENCIES,
    ActiveClients,
    ReplicaCounts,
    Shard,
    StepRecord,
    WindowSnapshot,
)
from loadgen.core.untranscribed import Untranscribed
from loadgen.core.verdict import Thresholds, judge

SETTLE_S = 2.0  # between a step's end and the next step's start: the last window reads, retirements


def parse_shard(text: str) -> Shard:
    """`I/K` with 0 <= I < K; ValueError names what is wrong."""
    try:
        index_text, count_text = text.split("/")
        index, count = int(index_text), int(count_text)
    except ValueError as exc:
        raise ValueError(f"expected INDEX/COUNT like 0/3, got {text!r}") from exc
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"need 0 <= INDEX < COUNT, got {text!r}")
    return Shard(index, count)


def aligned_start(now: float, align_s: float, lead_s: float) -> float:
    """The first multiple of `align_s` (unix time) at least `lead_s` after `now`."""
    return math.ceil((now + lead_s) / align_s) * align_s


@dataclass(frozen=True)
class StepClock:
    """When each step of a sharded schedule starts and when its window opens (unix seconds)."""

    t0: float
    ramp_s: float  # reserved for connecting the largest increase at the connect rate
    warmup_s: float
    hold_s: float

    @property
    def period_s(self) -> float:
        """Start of one step to the start of the next."""
        return self.ramp_s + self.warmup_s + self.hold_s + SETTLE_S

    def start(self, index: int) -> float:
        """When step `index` sets its target."""
        return self.t0 + index * self.period_s

    def measure_from(self, index: int) -> float:
        """When step `index`'s window opens."""
        return self.start(index) + self.ramp_s + self.warmup_s


def ramp_allowance(steps: Sequence[int], shard: Shard, connect_rate: float, timeout_s: float) -> float:
    """Seconds to reserve for ramping: the largest increase of this schedule at the connect rate plus the
    ramp timeout (the same on every shard, computed from the whole schedule)."""
    increases = [b - a for a, b in zip([0, *steps], steps, strict=False)]
    largest = max(math.ceil(max(increases, default=0) / shard.count), 0)
    return largest / connect_rate + timeout_s


def _sum(values: Sequence[float | None]) -> float:
    return sum(v for v in values if v is not None)


def _known_sum(values: Sequence[int | None]) -> int | None:
    """The sum of the values written; None when no shard wrote one."""
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _untranscribed(windows: Sequence[WindowSnapshot]) -> Untranscribed | None:
    known = [w.untranscribed for w in windows if w.untranscribed is not None]
    return Untranscribed.sum(known).rounded() if known else None


def _replicas(windows: Sequence[WindowSnapshot]) -> dict[str, ReplicaCounts]:
    merged: dict[str, ReplicaCounts] = {}
    for window in windows:
        for name, counts in window.replicas.items():
            into = merged.get(name, ReplicaCounts(0, 0.0))
            merged[name] = ReplicaCounts(
                into.sessions + counts.sessions, into.transcribed_audio_s + counts.transcribed_audio_s
            )
    return dict(sorted(merged.items()))


def _active(windows: Sequence[WindowSnapshot]) -> ActiveClients | None:
    active = [w.active_clients for w in windows if w.active_clients is not None]
    if not active:
        return None
    return ActiveClients(
        sum(a.min for a in active), sum(a.max for a in active), round(sum(a.avg for a in active), 3)
    )


def merge_windows(windows: Sequence[WindowSnapshot]) -> WindowSnapshot:
    """One window from the shards' windows of the same step: counts add, percentiles come from the
    merged histograms, WER from the summed word counts."""
    duration = max(w.duration_s for w in windows)
    words = sum(w.reference_words for w in windows)
    errors = sum(w.word_errors for w in windows)
    transcribed = sum(w.transcribed_audio_s for w in windows)
    sessions: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    for w in windows:
        sessions.update(w.sessions)
        kinds.update(w.error_kinds)
    encoded = [w.histograms or {} for w in windows]
    blocks = {kind: merged_block(h[kind] for h in encoded if kind in h) for kind in LATENCIES}
    untranscribed = _untranscribed(windows)
    return WindowSnapshot(
        duration_s=duration,
        active_clients=_active(windows),
        sessions=dict(sessions),
        connect_attempts=int(_sum([w.connect_attempts for w in windows])),
        connects_ready=int(_sum([w.connects_ready for w in windows])),
        error_kinds=dict(kinds),
        transcript_lag=blocks["transcript_lag"],
        finalization_lag=blocks["finalization_lag"],
        send_slip=blocks["send_slip"],
        word_errors=errors,
        reference_words=words,
        wer=round(errors / words, 5) if words else None,
        audio_sent_s=round(sum(w.audio_sent_s for w in windows), 3),
        transcribed_audio_s=round(transcribed, 3),
        throughput=round(transcribed / duration, 4) if duration else None,
        replicas=_replicas(windows),
        substitutions=_known_sum([w.substitutions for w in windows]),
        deletions=_known_sum([w.deletions for w in windows]),
        insertions=_known_sum([w.insertions for w in windows]),
        audio_untranscribed_s=None if untranscribed is None else round(untranscribed.total_s, 3),
        untranscribed=untranscribed,
        histograms={k: merged(h[k] for h in encoded if k in h) for k in LATENCIES if blocks[k]} or None,
        **_speech(windows),
        handshake=blocks["handshake"],
        refusals=_known_sum([w.refusals for w in windows]),
        arrivals_dropped=_known_sum([w.arrivals_dropped for w in windows]),
    )


def _speech(windows: Sequence[WindowSnapshot]) -> dict[str, float | None]:
    """speech_ratio and planned_audio_s of the merged window: the ratios weighted by planned audio."""
    weighted = [(w.speech_ratio, w.planned_audio_s) for w in windows if w.speech_ratio and w.planned_audio_s]
    audio = sum(a for _, a in weighted)
    if not audio:
        return {"speech_ratio": None, "planned_audio_s": None}
    ratio = sum(r * a for r, a in weighted) / audio
    return {"speech_ratio": round(ratio, 4), "planned_audio_s": round(audio, 3)}


def _spread(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    known = [v for v in values if v is not None]
    return (min(known), max(known)) if known else (None, None)


def merge_steps(records: Sequence[StepRecord], thresholds: Thresholds) -> list[StepRecord]:
    """Shard step records (those with a `shard` field) merged per step index and judged again as one;
    unsharded records are returned as they are."""
    if not any(r.shard is not None for r in records):
        return list(records)
    by_index: dict[int, list[StepRecord]] = {}
    for record in records:
        by_index.setdefault(record.index, []).append(record)
    merged: list[StepRecord] = []
    baseline: float | None = None
    for index in sorted(by_index):
        parts = by_index[index]
        windows = [p.window for p in parts if p.window is not None]
        window = merge_windows(windows) if windows else None
        if baseline is None and window is not None and window.wer is not None:
            baseline = window.wer
        first, last = _spread([p.started_at for p in parts])
        merged.append(
            StepRecord(
                index=index,
                clients=sum(p.clients for p in parts),
                phase=parts[0].phase,
                started_at=first,
                measure_from=_spread([p.measure_from for p in parts])[0],
                ended_at=_spread([p.ended_at for p in parts])[1],
                window=window,
                verdict=None if window is None else judge(window, thresholds, baseline),
                baseline_wer=baseline,
                shards=len(parts),
                start_spread_s=None if first is None or last is None else round(last - first, 3),
            )
        )
    return merged
