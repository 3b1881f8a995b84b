"""Shards: shares, aligned starts, the shared step clock, and merging shard windows exactly."""

from dataclasses import replace

import numpy as np
import pytest

from loadgen.core.latency_hist import encode, merged_block
from loadgen.core.records import Shard, StepRecord
from loadgen.core.shards import (
    StepClock,
    aligned_start,
    merge_steps,
    merge_windows,
    parse_shard,
    ramp_allowance,
)
from loadgen.core.untranscribed import Untranscribed
from loadgen.core.verdict import Thresholds
from loadgen.core.window import Window


def test_shares_add_up_and_differ_by_at_most_one() -> None:
    for count in (1, 2, 3, 7):
        for clients in range(0, 30):
            shares = [Shard(i, count).share(clients) for i in range(count)]
            assert sum(shares) == clients and max(shares) - min(shares) <= 1


@pytest.mark.parametrize("text", ["3/3", "-1/2", "a/b", "1", "0/0"])
def test_bad_shard_specs_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_shard(text)


def test_aligned_start_is_the_next_boundary_beyond_the_lead() -> None:
    assert aligned_start(1000.0, 10.0, 5.0) == 1010.0
    assert aligned_start(1006.0, 10.0, 5.0) == 1020.0  # 1011 is past 1010


def test_step_clock_and_allowance() -> None:
    shard = Shard(0, 3)
    allowance = ramp_allowance([3, 9, 12], shard, connect_rate=2.0, timeout_s=1.0)
    assert allowance == 2 / 2.0 + 1.0  # the largest increase (6) over 3 shards at 2/s, plus the timeout
    clock = StepClock(t0=100.0, ramp_s=allowance, warmup_s=3.0, hold_s=10.0)
    assert clock.start(1) - clock.start(0) == clock.period_s
    assert clock.measure_from(0) == 100.0 + allowance + 3.0


def _window(lags: list[float], words: tuple[int, int], active: int):
    window = Window(started_at=0.0, active=active)
    for lag in lags:
        window.sample("transcript_lag", 1.0, lag)
    return replace(window.snapshot(10.0), word_errors=words[0], reference_words=words[1])


def test_merged_percentiles_equal_those_of_all_samples_within_hdr_precision() -> None:
    a, b = [0.1 * i for i in range(1, 51)], [2.0 + 0.01 * i for i in range(100)]
    merged = merged_block([encode(a), encode(b)])
    single = merged_block([encode(a + b)])
    assert merged == single
    assert merged is not None and merged.count == 150
    assert merged.p95 == pytest.approx(np.percentile(a + b, 95, method="inverted_cdf"), rel=2e-3)


def test_merge_steps_sums_shards_and_judges_the_whole() -> None:
    records = [
        StepRecord(
            index=0,
            clients=clients,
            phase="explicit",
            started_at=10.0 + spread,
            measure_from=12.0,
            ended_at=20.0,
            window=_window(lags, words, clients),
            verdict=None,
            shard=Shard(i, 2),
            step_clients=3,
        )
        for i, (clients, spread, lags, words) in enumerate(
            [(2, 0.0, [0.2, 0.3], (1, 50)), (1, 0.4, [0.9], (4, 50))]
        )
    ]
    [merged] = merge_steps(records, Thresholds(slo_p95_lag_s=0.5))
    assert merged.clients == 3 and merged.shards == 2 and merged.start_spread_s == 0.4
    assert merged.window is not None and merged.window.transcript_lag is not None
    assert merged.window.transcript_lag.count == 3
    assert merged.window.active_clients is not None and merged.window.active_clients.max == 3
    assert merged.window.wer == 0.05
    assert merged.passed is False  # shard 1's 0.9 s lag makes the whole step's p95 fail
    unsharded = [replace(records[0], shard=None, step_clients=None)]
    assert merge_steps(unsharded, Thresholds()) == unsharded


def test_a_window_read_repeatedly_records_each_sample_once_and_encodes_all_of_them() -> None:
    window = Window(started_at=0.0)
    for value in (0.1, 0.2):
        window.sample("transcript_lag", 1.0, value)
    first = (window.snapshot(2.0).histograms or {})["transcript_lag"]
    window.sample("transcript_lag", 3.0, 0.9)
    second = (window.snapshot(4.0).histograms or {})["transcript_lag"]
    assert merged_block([first]) == merged_block([encode([0.1, 0.2])])
    block = merged_block([second])
    assert block == merged_block([encode([0.1, 0.2, 0.9])])
    assert block is not None and block.count == 3


def test_merged_windows_sum_the_word_error_split_and_untranscribed_speech() -> None:
    a = replace(_window([], (0, 0), 1), substitutions=1, deletions=2, insertions=0,
                untranscribed=Untranscribed(1.0, 0.0, 0.5), audio_untranscribed_s=1.5)  # fmt: skip
    b = replace(_window([], (0, 0), 1), substitutions=0, deletions=4, insertions=1,
                untranscribed=Untranscribed(0.25, 0.5, 0.0), audio_untranscribed_s=0.75)  # fmt: skip
    merged = merge_windows([a, b])
    assert (merged.substitutions, merged.deletions, merged.insertions) == (1, 6, 1)
    assert merged.untranscribed == Untranscribed(1.25, 0.5, 0.5) and merged.audio_untranscribed_s == 2.25
    old = replace(a, substitutions=None, deletions=None, insertions=None, untranscribed=None,
                  audio_untranscribed_s=None)  # fmt: skip
    merged_old = merge_windows([old, old])  # records written before these fields
    assert (merged_old.deletions, merged_old.untranscribed, merged_old.audio_untranscribed_s) == (None,) * 3
