import itertools
import json

import pytest

from loadgen.core.kpi import WordErrors
from loadgen.core.schedule import continuous_selection, start_offset, utterance_cycle
from loadgen.core.session_result import SessionResult
from loadgen.core.summary import summarize
from loadgen.core.untranscribed import Untranscribed
from loadgen.data.results_file import JsonlWriter, read_results


def test_clients_start_at_their_own_offset_in_the_corpus():
    assert list(itertools.islice(utterance_cycle(0, 3), 4)) == [0, 1, 2, 0]
    assert list(itertools.islice(utterance_cycle(4, 3), 3)) == [1, 2, 0]


def test_continuous_selection_fills_the_target_or_one_pass():
    durations = [4.0, 6.0, 5.0]
    assert continuous_selection(1, durations, None, gap_s=1.0) == [1, 2, 0]
    # 6 + (1 + 5) = 12 >= 10
    assert continuous_selection(1, durations, 10.0, gap_s=1.0) == [1, 2]


def test_connect_rate_spaces_client_starts():
    assert start_offset(0, 5.0) == 0.0
    assert start_offset(3, 2.0) == 1.5


def _result(client, outcome="ok", lags=(), replica=None, errors=None, audio=0.0):
    r = SessionResult(client=client, seq=0, uid=f"u{client}", utterances=["a"], started_at=0.0)
    if outcome != "ok":
        r.fail(outcome, "connect_failed", "boom")
    r.transcript_lags_s = list(lags)
    r.replica = replica
    r.word_errors = errors
    r.audio_sent_s = audio
    return r


def test_summary_pools_samples_outcomes_wer_and_replicas():
    results = [
        _result(0, lags=[0.1, 0.3], replica="10.0.0.1:9090", errors=WordErrors(1, 0, 0, 10), audio=5),
        _result(1, lags=[0.2], replica="10.0.0.2:9090", errors=WordErrors(0, 1, 1, 10), audio=7),
        _result(2, outcome="refused"),
        _result(3, outcome="error", errors=WordErrors(0, 5, 0, 5)),
    ]
    s = summarize(results)
    assert s.sessions == 4
    assert s.outcomes == {"ok": 2, "recovered": 0, "refused": 1, "error": 1, "dropped": 0, "stopped": 0}
    assert s.success_ratio == 0.5 and s.refusal_ratio == 0.25 and s.error_ratio == 0.25
    assert s.transcript_lag.count == 3 and s.transcript_lag.p50 == pytest.approx(0.2)
    assert s.wer == pytest.approx(3 / 20)  # failed sessions are not scored
    assert {k: v.sessions for k, v in s.replicas.items()} == {"10.0.0.1:9090": 1, "10.0.0.2:9090": 1}
    assert s.audio_sent_s == 12
    assert (s.substitutions, s.deletions, s.insertions) == (1, 1, 1)  # of the scored sessions
    assert s.untranscribed == Untranscribed(0, 0, 0) and s.audio_untranscribed_s == 0  # none measured


def test_summary_sums_untranscribed_speech_of_every_session_that_streamed():
    results = [_result(0), _result(1, outcome="dropped"), _result(2)]
    results[0].untranscribed = Untranscribed(1.0, 0.25, 0.0)
    results[1].untranscribed = Untranscribed(0.5, 0.0, 3.0)  # a failed session's lost speech counts
    s = summarize(results)
    assert s.untranscribed == Untranscribed(1.5, 0.25, 3.0) and s.audio_untranscribed_s == 4.75
    assert s.to_json_dict()["untranscribed"] == {"in_flight_s": 1.5, "gap_s": 0.25, "skipped_s": 3.0}


def test_a_failure_keeps_the_first_reason():
    r = _result(0)
    r.fail("dropped", "closed_mid_stream", "first")
    r.fail("error", "server_error", "second")
    assert (r.outcome, r.error_kind, r.error_detail) == ("dropped", "closed_mid_stream", "first")


def test_jsonl_round_trips_and_tolerates_a_torn_last_line(tmp_path):
    path = tmp_path / "s.jsonl"
    writer = JsonlWriter(path)
    for i in range(3):
        writer.write(_result(i, lags=[0.123456], errors=WordErrors(0, 0, 0, 3)))
    writer.close()
    with path.open("a") as f:
        f.write('{"client": 9, "seq"')  # a crash mid-line
    results, torn = read_results(path)
    assert torn and [r.client for r in results] == [0, 1, 2]
    assert results[0].transcript_lags_s == [0.1235]
    assert results[0].word_errors == WordErrors(0, 0, 0, 3)
    assert json.loads(path.read_text().splitlines()[0])["uid"] == "u0"


def test_a_kept_jsonl_appends_where_a_new_one_starts_over(tmp_path):
    """`loadgen serve` keeps its sessions file across container restarts; run directories start fresh."""
    path = tmp_path / "serve-sessions.jsonl"
    for keep in (True, True):
        writer = JsonlWriter(path, keep=keep)
        writer.write(_result(len(path.read_text().splitlines()) if path.exists() else 0))
        writer.close()
    assert [r.client for r in read_results(path)[0]] == [0, 1]
    JsonlWriter(path).close()
    assert path.read_text() == ""
