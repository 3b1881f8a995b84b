"""The measurement window: samples after its start only, sessions ended in it, active clients over time."""

import copy
import json

import pytest

from loadgen.core.kpi import WordErrors
from loadgen.core.records import ActiveClients, WindowSnapshot
from loadgen.core.session_result import SessionResult
from loadgen.core.untranscribed import Untranscribed
from loadgen.core.window import Connect, Window


def _session(outcome="ok", errors=(1, 10), ready=True, audio=4.0) -> SessionResult:
    r = SessionResult(client=0, seq=0, uid="u", utterances=["a"], started_at=0.0, replica="r1")
    if outcome != "ok":
        r.fail(outcome, "wait" if outcome == "refused" else "closed_mid_stream", "x")
    r.server_ready_s = 0.01 if ready else None
    r.word_errors = WordErrors(errors[0], 0, 0, errors[1])
    r.audio_sent_s = audio
    return r


def test_samples_before_the_start_are_ignored():
    w = Window(started_at=100.0)
    w.sample("transcript_lag", 99.9, 5.0)  # a late delivery of the previous step
    for i, lag in enumerate((0.1, 0.2, 0.3, 0.4)):
        w.sample("transcript_lag", 100.0 + i, lag)
    snap = w.snapshot(110.0)
    assert snap.transcript_lag.count == 4
    assert snap.transcript_lag.max == pytest.approx(0.4)
    assert snap.finalization_lag is None and snap.send_slip is None


def test_sessions_ended_in_the_window_give_outcomes_and_corpus_wer():
    w = Window(started_at=0.0)
    w.session_ended(1.0, _session(errors=(1, 10)))
    w.session_ended(2.0, _session(errors=(3, 30)))
    w.session_ended(3.0, _session(outcome="dropped", errors=(30, 30)))  # failed: not in the WER
    snap = w.snapshot(10.0)
    assert snap.sessions["ok"] == 2 and snap.sessions["dropped"] == 1
    assert snap.wer == pytest.approx(4 / 40)
    assert (snap.word_errors, snap.reference_words) == (4, 40)
    assert snap.error_kinds == {"closed_mid_stream": 1}
    assert snap.audio_sent_s == pytest.approx(12.0)
    assert w.wer() == pytest.approx(0.1)


def test_no_session_means_no_wer():
    snap = Window(started_at=0.0).snapshot(5.0)
    assert snap.wer is None and snap.transcript_lag is None and snap.connect_attempts == 0


def test_active_clients_min_max_and_time_weighted_average():
    w = Window(started_at=0.0, active=2)
    w.streams(5.0, 4)  # 2 for 5 s, then 4 for 5 s
    snap = w.snapshot(10.0)
    assert snap.active_clients == ActiveClients(2, 4, 3.0)


def test_connections_count_from_the_step_start_and_failures_count_as_attempts():
    w = Window(started_at=10.0, connects_from=5.0)
    w.connected(4.0, "r1")  # before the step: ignored
    w.connected(6.0, "r1")  # during the ramp: counts
    w.connected(11.0, "r2")
    w.connect_failed(12.0)
    snap = w.snapshot(20.0)
    assert (snap.connect_attempts, snap.connects_ready) == (3, 2)
    assert snap.replicas["r1"].sessions == 1 and snap.replicas["r2"].sessions == 1


def test_handshake_times_and_refusals_count_from_the_step_start():
    w = Window(started_at=10.0, connects_from=5.0)
    ready = SessionResult(0, 0, "u", ["a"], 0.0, replica="r1", connect_s=0.01, server_ready_s=0.29)
    refused = SessionResult(1, 0, "v", ["a"], 0.0, outcome="refused")
    timed_out = SessionResult(2, 0, "w", ["a"], 0.0, outcome="error")
    w.connect(Connect.of(4.0, ready))  # before the step: ignored
    for at, result in ((6.0, ready), (7.0, refused), (8.0, timed_out), (11.0, ready)):
        w.connect(Connect.of(at, result))
    snap = w.snapshot(20.0)
    assert (snap.connect_attempts, snap.connects_ready, snap.refusals) == (4, 2, 1)
    assert snap.handshake is not None
    assert (snap.handshake.count, snap.handshake.p50, snap.handshake.max) == (2, 0.3, 0.3)
    assert WindowSnapshot.from_json({"duration_s": 1}).handshake is None  # a record before issue 16


def test_throughput_is_transcribed_audio_per_second_by_replica():
    w = Window(started_at=0.0)
    w.transcribed(1.0, "r1", 6.0)
    w.transcribed(2.0, "r2", 4.0)
    w.transcribed(-1.0, "r2", 100.0)  # before the start
    snap = w.snapshot(5.0)
    assert snap.transcribed_audio_s == pytest.approx(10.0)
    assert snap.throughput == pytest.approx(2.0)
    assert snap.replicas["r2"].transcribed_audio_s == pytest.approx(4.0)


def test_a_snapshot_changes_nothing_in_the_window():
    w = Window(started_at=0.0, active=1)
    w.sample("transcript_lag", 1.0, 0.3)
    w.sample("send_slip", 1.0, 0.002)
    w.session_ended(2.0, _session())
    encoded = {kind: h.encode() for kind, h in w.histograms.items()}
    state = copy.deepcopy({k: v for k, v in vars(w).items() if k != "histograms"})
    assert w.snapshot(5.0) == w.snapshot(5.0)
    assert {kind: h.encode() for kind, h in w.histograms.items()} == encoded
    assert {k: v for k, v in vars(w).items() if k != "histograms"} == state


def test_a_snapshot_reads_back_from_its_json_with_the_documented_fields():
    w = Window(started_at=0.0, active=2)
    w.sample("transcript_lag", 1.0, 0.25)
    w.connected(1.0, "r1", 0.02)
    w.transcribed(2.0, "r1", 3.0)
    w.session_ended(3.0, _session())
    snap = w.snapshot(10.0)
    data = json.loads(json.dumps(snap.to_json_dict()))
    assert list(data) == [
        *("duration_s", "active_clients", "sessions", "connect_attempts", "connects_ready", "error_kinds"),
        *("transcript_lag", "finalization_lag", "send_slip", "word_errors", "reference_words", "wer"),
        *("audio_sent_s", "transcribed_audio_s", "throughput", "replicas"),
        *("substitutions", "deletions", "insertions", "audio_untranscribed_s", "untranscribed", "histograms"),
        *("handshake", "refusals"),
    ]
    assert WindowSnapshot.from_json(data) == snap
    assert data["replicas"] == {"r1": {"sessions": 1, "transcribed_audio_s": 3.0}}
    assert WindowSnapshot.from_json(data) == snap


def test_a_window_splits_word_errors_and_sums_untranscribed_speech_of_every_session():
    w = Window(started_at=0.0)
    ok, dropped, old = _session(), _session("dropped"), _session()
    ok.word_errors = WordErrors(1, 3, 2, 20)
    ok.untranscribed = Untranscribed(0.5, 0.25, 0.0)
    dropped.untranscribed = Untranscribed(1.0, 0.0, 2.0)  # its words are not scored, its speech counts
    for r in (ok, dropped, old):  # `old`: not measured
        w.session_ended(1.0, r)
    snap = w.snapshot(10.0)
    assert (snap.substitutions, snap.deletions, snap.insertions, snap.word_errors) == (1 + 1, 3, 2, 7)
    assert snap.untranscribed == Untranscribed(1.5, 0.25, 2.0)
    assert snap.audio_untranscribed_s == 3.75
    assert WindowSnapshot.from_json(json.loads(json.dumps(snap.to_json_dict()))) == snap
