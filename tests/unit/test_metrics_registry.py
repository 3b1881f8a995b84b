import pytest

from loadgen.core.kpi import WordErrors
from loadgen.core.session_result import SessionResult
from loadgen.core.untranscribed import Untranscribed
from loadgen.telemetry.metrics import RECENT_SESSIONS, LoadgenMetrics


def _value(metrics, name, **labels):
    return metrics.registry.get_sample_value(name, labels)


def _result(outcome="ok", errors=(1, 10), replica="127.0.0.1:9101"):
    r = SessionResult(client=0, seq=0, uid="u", utterances=["a"], started_at=0.0, replica=replica)
    if outcome != "ok":
        r.fail(outcome, "closed_mid_stream", "gone")
    r.word_errors = WordErrors(errors[0], 0, 0, errors[1])
    r.audio_sent_s = 4.0
    r.connect_s = 0.01
    r.protocol_errors = {"bad_json": 2}
    return r


def test_bounded_label_sets_exist_at_zero_before_any_event():
    m = LoadgenMetrics()
    for outcome in ("ok", "refused", "error", "dropped"):
        assert _value(m, "loadgen_sessions_total", outcome=outcome, replica="") == 0
    assert _value(m, "loadgen_protocol_errors_total", kind="wrong_uid") == 0


def test_a_finished_session_is_counted_once_with_its_replica():
    m = LoadgenMetrics()
    m.session_finished(_result())
    m.session_finished(_result(outcome="dropped"))
    assert _value(m, "loadgen_sessions_total", outcome="ok", replica="127.0.0.1:9101") == 1
    assert _value(m, "loadgen_sessions_total", outcome="dropped", replica="127.0.0.1:9101") == 1
    assert _value(m, "loadgen_session_errors_total", kind="closed_mid_stream") == 1
    assert _value(m, "loadgen_protocol_errors_total", kind="bad_json") == 4
    assert _value(m, "loadgen_audio_sent_seconds_total", replica="127.0.0.1:9101") == 8.0
    assert _value(m, "loadgen_connect_duration_seconds_count") == 2
    # only the ok session's words count toward WER
    assert _value(m, "loadgen_word_errors_total", kind="substitution") == 1
    assert _value(m, "loadgen_word_errors_total", kind="deletion") == 0
    assert _value(m, "loadgen_reference_words_total") == 10


def test_recent_wer_covers_only_the_last_sessions():
    m = LoadgenMetrics()
    m.session_finished(_result(errors=(10, 10)))
    assert _value(m, "loadgen_recent_wer_ratio") == 1.0
    for _ in range(RECENT_SESSIONS):
        m.session_finished(_result(errors=(0, 10)))
    assert _value(m, "loadgen_recent_wer_ratio") == 0.0
    assert _value(m, "loadgen_word_errors_total", kind="substitution") == 10
    assert _value(m, "loadgen_reference_words_total") == pytest.approx(10 * (RECENT_SESSIONS + 1))


def test_word_errors_by_kind_and_untranscribed_speech_by_cause():
    m = LoadgenMetrics()
    assert _value(m, "loadgen_audio_untranscribed_seconds_total", cause="skipped") == 0
    ok, dropped = _result(), _result(outcome="dropped")
    ok.word_errors = WordErrors(1, 4, 2, 30)
    ok.untranscribed = Untranscribed(0.5, 0.25, 0.0)
    dropped.untranscribed = Untranscribed(1.0, 0.0, 2.0)  # its speech counts, its words do not
    for r in (ok, dropped, _result()):  # the last: not measured
        m.session_finished(r)
    kinds = {
        k: _value(m, "loadgen_word_errors_total", kind=k) for k in ("substitution", "deletion", "insertion")
    }
    assert kinds == {"substitution": 2, "deletion": 4, "insertion": 2}
    causes = {
        c: _value(m, "loadgen_audio_untranscribed_seconds_total", cause=c)
        for c in ("in_flight", "gap", "skipped")
    }
    assert causes == {"in_flight": 1.5, "gap": 0.25, "skipped": 2.0}
