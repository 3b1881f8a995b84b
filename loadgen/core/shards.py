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
from typing import Any

from loadgen.core.latency_hist import merged_block
from loadgen.core.verdict import Thresholds, judge
from loadgen.core.window import LATENCIES

SETTLE_S = 2.0  # between a step's end and the next step's start: the last window reads, retirements


@dataclass(frozen=True)
class Shard:
    """This generator's place among `count` shards."""

    index: int
    count: int

    def share(self, clients: int) -> int:
        """This shard's part of `clients`."""
        return clients // self.count + (1 if self.index < clients % self.count else 0)

    def to_json_dict(self) -> dict[str, int]:
        """The `shard` object of run.json and of each step record."""
        return {"index": self.index, "count": self.count}


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


def _sum(values: Sequence[Any]) -> float:
    return sum(v for v in values if v is not None)


def _replicas(windows: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    merged: dict[str, dict[str, float]] = {}
    for window in windows:
        for name, values in (window.get("replicas") or {}).items():
            into = merged.setdefault(name, {})
            for key, value in values.items():
                into[key] = into.get(key, 0) + value
    return dict(sorted(merged.items()))


def merge_windows(windows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One window from the shards' windows of the same step: counts add, percentiles come from the
    merged histograms, WER from the summed word counts."""
    duration = max(w["duration_s"] for w in windows)
    active = [w["active_clients"] for w in windows]
    words = int(_sum([w.get("reference_words") for w in windows]))
    errors = int(_sum([w.get("word_errors") for w in windows]))
    transcribed = _sum([w.get("transcribed_audio_s") for w in windows])
    sessions: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    for w in windows:
        sessions.update(w.get("sessions") or {})
        kinds.update(w.get("error_kinds") or {})
    histograms = {
        kind: [w["histograms"][kind] for w in windows if kind in (w.get("histograms") or {})]
        for kind in LATENCIES
    }
    return {
        "duration_s": duration,
        "active_clients": {key: round(_sum([a[key] for a in active]), 3) for key in ("min", "max", "avg")},
        "sessions": dict(sessions),
        "connect_attempts": int(_sum([w.get("connect_attempts") for w in windows])),
        "connects_ready": int(_sum([w.get("connects_ready") for w in windows])),
        "error_kinds": dict(kinds),
        **{kind: merged_block(histograms[kind]) for kind in LATENCIES},
        "word_errors": errors,
        "reference_words": words,
        "wer": round(errors / words, 5) if words else None,
        "audio_sent_s": round(_sum([w.get("audio_sent_s") for w in windows]), 3),
        "transcribed_audio_s": round(transcribed, 3),
        "throughput": round(transcribed / duration, 4) if duration else None,
        "replicas": _replicas(windows),
    }


def merge_steps(records: Sequence[dict[str, Any]], thresholds: Thresholds) -> list[dict[str, Any]]:
    """Shard step records (those with a `shard` field) merged per step index and judged again as one;
    unsharded records are returned as they are."""
    if not any("shard" in r for r in records):
        return list(records)
    by_index: dict[int, list[dict[str, Any]]] = {}
    for record in records:
        by_index.setdefault(int(record["index"]), []).append(record)
    merged: list[dict[str, Any]] = []
    baseline: float | None = None
    for index in sorted(by_index):
        parts = by_index[index]
        window = merge_windows([p["window"] for p in parts])
        if baseline is None and window["wer"] is not None:
            baseline = window["wer"]
        merged.append(
            {
                "index": index,
                "clients": sum(int(p["clients"]) for p in parts),
                "phase": parts[0]["phase"],
                "started_at": min(p["started_at"] for p in parts),
                "measure_from": min(p["measure_from"] for p in parts),
                "ended_at": max(p["ended_at"] for p in parts),
                "shards": len(parts),
                "start_spread_s": round(
                    max(p["started_at"] for p in parts) - min(p["started_at"] for p in parts), 3
                ),
                "window": window,
                "verdict": judge(window, thresholds, baseline).to_json_dict(),
                "baseline_wer": baseline,
            }
        )
    return merged
