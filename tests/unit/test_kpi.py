import math

import pytest

from loadgen.core.kpi import LatencyStats, WordErrors, corpus_wer, normalize, ratio, word_errors


def test_latency_stats_pool_every_sample():
    stats = LatencyStats.of([0.1, 0.2, 0.3, 0.4, 1.0])
    assert stats.count == 5
    assert stats.avg == pytest.approx(0.4)
    assert stats.p50 == pytest.approx(0.3)
    assert stats.max == 1.0
    assert stats.p95 == pytest.approx(0.88)


def test_latency_stats_of_nothing_are_nan():
    stats = LatencyStats.of([])
    assert stats.count == 0 and math.isnan(stats.p95)


def test_normalizer_removes_case_punctuation_and_spells_titles():
    assert normalize("Hello, Mr. Smith!") == "hello mister smith"


def test_word_errors_after_normalization():
    assert word_errors("The cat sat on the mat.", "the cat sat on a mat").errors == 1
    result = word_errors("a b c d", "a x c")
    assert (result.substitutions, result.deletions, result.insertions) == (1, 1, 0)
    assert result.wer == pytest.approx(0.5)


def test_empty_hypothesis_is_all_deletions_and_empty_reference_all_insertions():
    assert word_errors("red green blue", "") == WordErrors(0, 3, 0, 3)
    assert word_errors("", "stray words") == WordErrors(0, 0, 2, 0)


def test_corpus_wer_is_total_errors_over_total_words_not_a_mean_of_rates():
    short = WordErrors(1, 0, 0, 1)  # 100 %
    long = WordErrors(0, 0, 0, 9)  # 0 %
    assert corpus_wer([short, long]) == pytest.approx(0.1)
    assert math.isnan(corpus_wer([]))


def test_ratio():
    assert ratio(1, 4) == 0.25
    assert math.isnan(ratio(0, 0))
