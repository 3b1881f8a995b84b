"""The session's decisions, without sockets: a `SessionMachine` driven on a virtual clock.

`Sim` plays the asyncio driver (`loadgen.live.session`) the way it behaves: it performs each action the
machine asks for, sleeps on the virtual clock until a `Wait` ends, fires the connection's one timer, and
delivers the server's messages and closes at their scheduled times, each connection scripted by the test.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest

from loadgen.core.protocol import MAX_MESSAGE_BYTES, StreamOptions
from loadgen.core.reconnect import ReconnectPolicy
from loadgen.core.session_machine import (
    CLOSE,
    CONNECT,
    FINISH,
    IDLE_NOTHING,
    IDLE_SILENCE,
    SEND_END,
    WAIT,
    Action,
    ArmTimer,
    ReconnectAfter,
    Send,
    SessionMachine,
    SessionRules,
)
from loadgen.core.session_result import SessionResult
from loadgen.core.stream_audio import Chunk, StreamPlan, build_plan, build_talk_plan
from loadgen.telemetry.metrics import LoadgenMetrics

UID = "uid-1"
READY = json.dumps({"uid": UID, "message": "SERVER_READY", "backend": "faster_whisper"})
CONNECT_S, READY_S = 0.01, 0.05  # how long a scripted connect and its SERVER_READY take
T0 = CONNECT_S + READY_S  # the live clock's start when the first connection succeeds at once
CLOSE_OK = "sent 1000 (OK); then received 1000 (OK)"


def segments(*segs: tuple[float, float, str, bool]) -> str:
    """A transcript update as WhisperLive sends it."""
    sent = [{"start": f"{s:.3f}", "end": f"{e:.3f}", "text": t, "completed": c} for s, e, t, c in segs]
    return json.dumps({"uid": UID, "segments": sent})


def status(name: str, message: object) -> str:
    return json.dumps({"uid": UID, "status": name, "message": message})


Feed = Callable[[SessionMachine, float], bool]


def message(data: str | bytes) -> Feed:
    return lambda m, at: m.message(at, data)


def closed(detail: str = "received 1000 (OK); then sent 1000 (OK)", too_big: bool = False) -> Feed:
    return lambda m, _at: m.closed(detail, too_big)


@dataclass
class Sim:
    """The driver on a virtual clock; `connections` script each connection attempt in turn."""

    m: SessionMachine
    connections: list[Callable[[Sim], None]]
    now: float = 0.0
    timer: float | None = None
    events: list[tuple[float, Feed]] = field(default_factory=list)
    sends: list[tuple[float, object]] = field(default_factory=list)  # (time, action) of every send
    actions: list[Action] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)
    open: bool = False

    def at(self, when: float, feed: Feed) -> None:
        """The server does `feed` at `when`."""
        self.events.append((when, feed))
        self.events.sort(key=lambda e: e[0])

    def run(self, until: Callable[[Action], bool] = lambda a: a is FINISH) -> Action:
        while True:
            action = self.m.next_action(self.now)
            self.actions.append(action)
            if until(action):
                return action
            if action is WAIT:
                self._wait(self.m.wake_at)
            elif isinstance(action, (Chunk, Send)):
                self.sends.append((self.now, action))
            elif isinstance(action, ArmTimer):
                self.timer = action.at
            elif action is CONNECT:
                self.connections.pop(0)(self)
            elif action is CLOSE:
                self.timer = None
                if self.open:  # the client reports the close it completed
                    self.open = False
                    self.m.closed(CLOSE_OK, False)
                self.events.clear()  # the server's later messages went with its connection
            elif isinstance(action, ReconnectAfter):
                self.delays.append(action.delay_s)
                self.now += action.delay_s
            else:
                raise AssertionError(f"unexpected {action}")

    def _wait(self, until: float | None) -> None:
        """Sleep until `until`, or until a server event or the timer wakes the sender."""
        while True:
            server_at = self.events[0][0] if self.events else None
            due = min((t for t in (self.timer, server_at) if t is not None), default=None)
            if due is None or (until is not None and due > until):
                assert until is not None, "the sender would wait forever"
                self.now = until
                return
            self.now = max(self.now, due)
            if due == self.timer:
                self.timer = None
                woke = self.m.timer_due(self.now)
                self.timer = self.m.timer_at
            else:
                _, feed = self.events.pop(0)
                woke = feed(self.m, self.now)
            if woke:
                return

    # Connection scripts.

    @staticmethod
    def accept(*replies: tuple[float, Feed], replica: str = "r1", ready_after: float = READY_S):
        """Connect, answer SERVER_READY after `ready_after`, then `replies` (times after SERVER_READY)."""

        def script(sim: Sim) -> None:
            sim.now += CONNECT_S
            sim.open = True
            sim.m.connected(sim.now, replica)
            ready_at = sim.now + ready_after
            sim.at(ready_at, message(READY))
            for after, feed in replies:
                sim.at(ready_at + after, feed)

        return script

    @staticmethod
    def reply(*events: tuple[float, Feed], replica: str = "r1"):
        """Connect, then the server does `events` (times after the upgrade), no SERVER_READY unless told."""

        def script(sim: Sim) -> None:
            sim.now += CONNECT_S
            sim.open = True
            sim.m.connected(sim.now, replica)
            for after, feed in events:
                sim.at(sim.now + after, feed)

        return script

    @staticmethod
    def fail(how: Callable[[SessionMachine], None]):
        """The connection does not open."""

        def script(sim: Sim) -> None:
            sim.now += CONNECT_S
            how(sim.m)

        return script


def make(
    seconds: float = 1.0,
    reference: str | None = None,
    plan: StreamPlan | None = None,
    idle: str | None = None,
    **rules: object,
) -> tuple[SessionMachine, SessionResult, LoadgenMetrics]:
    """A machine streaming `plan`, by default `seconds` of audio, in 0.25 s chunks (4,000 samples)."""
    base: dict[str, object] = dict(
        options=StreamOptions(uid=""), chunk_s=0.25, settle_s=0.5, max_tail_s=2.0, ready_timeout_s=1.0,
        stall_timeout_s=5.0, open_timeout_s=2.0,
    )
    if plan is None:
        plan = build_plan([np.zeros(int(seconds * 16000), dtype=np.float32)])
    result = SessionResult(0, 0, UID, ["a"], 0.0)
    metrics = LoadgenMetrics()
    ready: list[bool] = []
    machine = SessionMachine(
        SessionRules(**{**base, **rules}),  # type: ignore[arg-type]
        plan, result, reference, metrics, lambda: ready.append(True), "unknown", idle,
    )
    return machine, result, metrics


def sample(metrics: LoadgenMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


# The whole stream.


def test_a_session_streams_on_the_live_clock_settles_ends_and_measures_every_lag():
    m, r, metrics = make(reference="hello world")
    sim = Sim(m, [Sim.accept(
        (0.6, message(segments((0.0, 0.5, "hello", False)))),
        (1.2, message(segments((0.0, 1.0, "hello world", True)))),
    )])
    assert sim.run() is FINISH
    assert sim.sends[0][1] == Send(json.dumps({
        "uid": UID, "language": "en", "task": "transcribe", "model": "tiny.en", "use_vad": True,
        "send_last_n_segments": 10, "no_speech_thresh": 0.45, "clip_audio": False,
        "same_output_threshold": 10, "enable_translation": False,
    }))
    chunk_times = [t for t, a in sim.sends if isinstance(a, Chunk)]
    assert chunk_times == pytest.approx([T0 + 0.25, T0 + 0.5, T0 + 0.75, T0 + 1.0])  # each when due
    # Trailing silence until the transcript (last change at T0 + 1.2) is quiet for settle_s = 0.5 s.
    silence_times = [t - T0 for t, a in sim.sends if a is m.silence_message]
    assert silence_times == pytest.approx([1.25, 1.5, 1.75])
    assert sim.sends[-1] == (pytest.approx(T0 + 1.75), SEND_END)
    assert (r.outcome, r.error_kind, r.replica, r.replicas) == ("ok", None, "r1", ["r1"])
    assert (r.connect_s, r.server_ready_s) == (pytest.approx(CONNECT_S), pytest.approx(READY_S))
    assert (r.chunks_sent, r.audio_sent_s, r.tail_sent_s) == (7, 1.0, 0.75)
    assert r.send_slips_s == pytest.approx([0.0] * 7, abs=1e-9)
    assert r.transcript_lags_s == pytest.approx([0.1, 0.2])
    assert r.finalization_lags_s == pytest.approx([0.2])
    assert (r.first_text_s, r.drain_s) == (pytest.approx(0.6), pytest.approx(0.2))
    assert (r.hypothesis, r.segments_received, r.unfinalized_segments) == ("hello world", 2, 0)
    assert r.word_errors is not None and r.word_errors.errors == 0
    assert sample(metrics, "loadgen_transcript_lag_seconds_count", replica="r1") == 2
    assert sample(metrics, "loadgen_send_slip_seconds_count") == 7


def test_a_late_sender_records_its_slip_and_sends_at_once():
    m, r, _ = make(seconds=0.5)
    sim = Sim(m, [Sim.accept()])
    sim.run(until=lambda a: isinstance(a, ArmTimer) and a.at == pytest.approx(T0 + 5.0))  # ready: watchdog
    sim.now = T0 + 0.4  # the loop was busy: chunk 1 (due T0 + 0.25) goes 0.15 s late
    assert isinstance(chunk := m.next_action(sim.now), Chunk) and chunk.end_s == 0.25
    assert r.send_slips_s == pytest.approx([0.15])
    assert m.next_action(sim.now) is WAIT and m.wake_at == pytest.approx(T0 + 0.5)  # chunk 2 when due


# Every handshake outcome.


HANDSHAKES = {
    "wait": (Sim.reply((0.05, message(status("WAIT", 2.5)))), "refused", "wait",
             "server full or overloaded (WAIT 2.5 min)"),
    "server error": (Sim.reply((0.05, message(status("ERROR", "model failed")))), "error", "server_error",
                     "model failed"),
    "disconnect": (Sim.reply((0.05, message(json.dumps({"uid": UID, "message": "DISCONNECT"})))), "error",
                   "disconnect_in_handshake", "DISCONNECT before SERVER_READY"),
    "closed": (Sim.reply((0.05, closed("received 1011 (boom)"))), "error", "closed_in_handshake",
               "closed before SERVER_READY (received 1011 (boom))"),
    "oversized": (Sim.reply((0.05, closed("sent 1009 (message too big)", too_big=True))), "error",
                  "closed_in_handshake", "closed before SERVER_READY (sent 1009 (message too big))"),
    "no ready": (Sim.reply(), "error", "ready_timeout", "no SERVER_READY within 1.0 s"),
    "http 403": (Sim.fail(lambda m: m.rejected(403)), "error", "handshake_rejected",
                 "HTTP 403 on upgrade: wrong or missing --api-key"),
    "http 502": (Sim.fail(lambda m: m.rejected(502)), "error", "handshake_rejected", "HTTP 502 on upgrade"),
    "open timeout": (Sim.fail(lambda m: m.open_timed_out()), "error", "connect_timeout",
                     "no WebSocket upgrade within 2.0 s"),
    "connect failed": (Sim.fail(lambda m: m.connect_failed("ConnectionRefusedError: refused")), "error",
                       "connect_failed", "ConnectionRefusedError: refused"),
}


@pytest.mark.parametrize("case", sorted(HANDSHAKES))
def test_each_failed_handshake_ends_the_session_with_its_outcome(case):
    script, outcome, kind, detail = HANDSHAKES[case]
    m, r, _ = make(reference="x", reconnect=ReconnectPolicy())  # reconnects are for drops, not refusals
    sim = Sim(m, [script])
    assert sim.run() is FINISH
    assert (r.outcome, r.error_kind, r.error_detail) == (outcome, kind, detail)
    assert (r.connect_s, r.replicas, r.chunks_sent, r.reference) == (None, [], 0, None)
    opened = not case.startswith(("http", "open", "connect"))
    assert r.replica == ("r1" if opened else None)  # the replica that refused is still named
    assert (CLOSE in sim.actions) == opened  # an opened connection is closed, a failed one has none


def test_the_ready_timeout_runs_from_the_options_sent():
    m, r, _ = make()
    sim = Sim(m, [Sim.reply((0.99, message(READY)))])  # 0.99 s after the upgrade: in time
    assert sim.run() is FINISH
    assert (r.outcome, r.server_ready_s) == ("ok", pytest.approx(0.99))


def test_malformed_unknown_and_warning_messages_are_counted_and_the_stream_goes_on():
    m, r, _ = make()
    sim = Sim(m, [Sim.reply(
        (0.01, message("{not json")),
        (0.02, message(status("WARNING", "slow"))),
        (0.03, message(READY)),
        (0.5, message(b"\x00binary")),
        (0.6, message(json.dumps({"uid": "other", "segments": []}))),
        (0.7, message(json.dumps({"uid": UID, "translated_segments": []}))),
    )])
    assert sim.run() is FINISH
    assert r.outcome == "ok"
    assert r.protocol_errors == {"bad_json": 1, "binary_frame": 1, "wrong_uid": 1, "unknown_type": 1}
    assert r.warnings == ["slow"]


# Mid-stream endings.


def test_a_server_error_or_an_oversized_message_mid_stream_ends_it_for_good():
    for feed, kind, errors in (
        (message(status("ERROR", "oom")), "server_error", {}),
        (closed("sent 1009 (message too big)", too_big=True), "oversized_message", {"oversized": 1}),
    ):
        m, r, _ = make(reconnect=ReconnectPolicy())
        sim = Sim(m, [Sim.accept((0.4, feed))])
        assert sim.run() is FINISH
        assert (r.outcome, r.error_kind, r.protocol_errors, r.reconnects) == ("error", kind, errors, 0)
        assert r.chunks_sent == 1  # the wait for chunk 2 ended at once: no more sends
        assert sim.now == pytest.approx(T0 + 0.4)
    assert r.error_detail == f"server message above {MAX_MESSAGE_BYTES} bytes"


def test_a_stream_without_transcripts_stalls_but_a_quiet_tail_does_not():
    m, r, _ = make(seconds=3.0, stall_timeout_s=1.0)
    sim = Sim(m, [Sim.accept((0.8, message(segments((0.0, 0.5, "hi", False)))))])
    assert sim.run() is FINISH
    assert (r.outcome, r.error_kind) == ("error", "stalled")
    assert r.error_detail == "no transcript for 1 s while speech flowed"
    assert sim.now == pytest.approx(T0 + 1.8)  # a second after the last transcript, not after READY
    m, r, _ = make(seconds=0.5, stall_timeout_s=0.3, settle_s=1.0)
    progress = [(t, message(segments((0.0, t, "hi", False)))) for t in (0.2, 0.45)]
    sim = Sim(m, [Sim.accept(*progress)])
    assert sim.run() is FINISH  # no transcript from 0.45 s on, but the speech ended at 0.5 s
    assert (r.outcome, r.tail_sent_s) == ("ok", 1.0)  # silence until settled: 1 s after the speech


def test_a_pause_is_not_a_stall_but_speech_without_transcripts_after_it_is():
    speech = np.ones(8000, dtype=np.float32)  # 0.5 s spurts around a 3 s pause
    plan = build_talk_plan([speech, speech, speech], [0.0, 3.0, 0.0])
    m, r, _ = make(plan=plan, stall_timeout_s=0.75, settle_s=0.5)
    sim = Sim(m, [Sim.accept((0.5, message(segments((0.0, 0.5, "a", False)))))])
    assert sim.run() is FINISH
    # from the transcript at 0.5 s: 3 s of pause, then 0.75 s of speech (3.5..4.5 s) without one
    assert (r.outcome, r.error_kind) == ("error", "stalled")
    assert r.error_detail == "no transcript for 0.75 s while speech flowed"
    assert sim.now == pytest.approx(T0 + 3.5 + 0.75)


def test_an_idle_session_streams_silence_until_it_is_stopped_and_never_stalls():
    m, r, _ = make(plan=StreamPlan(()), idle=IDLE_SILENCE, stall_timeout_s=1.0)
    sim = Sim(m, [Sim.accept()])
    sim.run(until=lambda _a: sim.now >= T0 + 10.0)  # no transcript at all for 10 s
    assert r.outcome == "ok" and r.tail_sent_s == pytest.approx(10.0, abs=0.25)
    silent = [a for _, a in sim.sends if a == m.silence_message]
    assert len(silent) == pytest.approx(40, abs=1)  # 0.25 s chunks, on the live clock
    assert SEND_END not in [a for _, a in sim.sends]
    m.cancel()
    m.finish()
    assert r.speech_s is None and r.word_errors is None and r.untranscribed is not None


def test_an_idle_session_that_sends_nothing_waits_without_end():
    m, r, _ = make(plan=StreamPlan(()), idle=IDLE_NOTHING, stall_timeout_s=1.0)
    sim = Sim(m, [Sim.accept()])
    action = sim.run(until=lambda a: a is WAIT and m.wake_at is None and r.server_ready_s is not None)
    assert action is WAIT and r.chunks_sent == 0 and r.server_ready_s == pytest.approx(READY_S)
    sim.now += 100.0  # however long it waits, its timer never judges it
    assert m.timer_due(sim.now) is False and r.outcome == "ok"
    m.closed("server went away", False)  # the server dropping it still ends it
    assert sim.run() is FINISH and (r.outcome, r.error_kind) == ("dropped", "closed_mid_stream")


def test_the_tail_is_bounded_by_max_tail_when_the_transcript_keeps_changing():
    changes = [(0.3 * k, message(segments((0.0, 0.1 * k, f"w{k}", False)))) for k in range(1, 20)]
    m, r, _ = make(max_tail_s=1.0)
    sim = Sim(m, [Sim.accept(*changes)])
    assert sim.run() is FINISH
    assert (r.outcome, r.tail_sent_s, r.chunks_sent) == ("ok", 1.0, 8)
    assert sim.sends[-1][1] is SEND_END


def test_messages_after_end_of_audio_count_until_the_close():
    m, r, _ = make(seconds=0.25, settle_s=0.0)
    sim = Sim(m, [Sim.accept()])
    assert sim.run(until=lambda a: a is CLOSE) is CLOSE  # END_OF_AUDIO sent, closing
    assert m.message(T0 + 0.4, segments((0.0, 0.25, "late", True))) is False
    m.closed(CLOSE_OK, False)  # our close: not a drop
    assert m.next_action(T0 + 0.5) is FINISH
    assert (r.outcome, r.hypothesis, r.transcript_lags_s) == ("ok", "late", [pytest.approx(0.15)])


# Reconnect, backoff, resume.


def test_a_dropped_stream_reconnects_and_resumes_on_the_live_clock():
    m, r, metrics = make(seconds=2.0, reconnect=ReconnectPolicy(max_attempts=3))
    sim = Sim(m, [
        Sim.accept((0.3, message(segments((0.0, 0.25, "one", True)))), (0.6, closed())),
        Sim.fail(lambda m: m.rejected(502)),
        Sim.accept((0.5, message(segments((0.0, 0.5, "two", False)))), replica="r2"),
    ])
    assert sim.run() is FINISH
    delays = [0.0, ReconnectPolicy(max_attempts=3).delay(1, random.Random(UID))]
    assert sim.delays == delays  # the first retry at once, then backoff (jitter seeded by the uid)
    ready_again = T0 + 0.6 + CONNECT_S + delays[1] + CONNECT_S + READY_S
    assert (r.outcome, r.reconnects, r.replicas) == ("recovered", 1, ["r1", "r2"])
    assert r.reconnect_s == pytest.approx([ready_again - (T0 + 0.6)])
    assert r.offline_s == pytest.approx(ready_again - (T0 + 0.6))
    # Two chunks went before the drop; the new connection starts at the chunk being spoken now.
    first_after = min(c.end_s - 0.25 for _, c in sim.sends if isinstance(c, Chunk) and c.end_s > 0.5)
    assert first_after == pytest.approx(int((ready_again - T0) / 0.25) * 0.25)
    assert r.audio_lost_s == pytest.approx(first_after - 0.5)
    assert r.audio_sent_s == pytest.approx(2.0 - r.audio_lost_s)
    # The new connection's stream time 0 is at the resume point: its segment lands there.
    assert r.hypothesis == "one two"
    assert r.transcript_lags_s[-1] == pytest.approx(ready_again + 0.5 - (T0 + first_after + 0.5))
    # Untranscribed: 0.25-0.5 went to r1 unanswered, the gap was never sent, the rest after "two" is
    # under a second (holes that short are not counted as skipped).
    assert r.untranscribed is not None
    assert r.untranscribed.in_flight_s == pytest.approx(0.25)
    assert r.untranscribed.gap_s == pytest.approx(r.audio_lost_s)
    assert r.untranscribed.skipped_s == 0.0
    assert r.audio_untranscribed_s == pytest.approx(0.25 + r.audio_lost_s)
    assert sample(metrics, "loadgen_reconnects_total", result="ok") == 1
    assert sample(metrics, "loadgen_reconnects_total", result="failed") == 1


def test_a_drop_recovers_from_a_disconnect_or_a_stall():
    for feed in (message(json.dumps({"uid": UID, "message": "DISCONNECT"})), None):
        m, r, _ = make(reconnect=ReconnectPolicy(), stall_timeout_s=0.5)
        first = Sim.accept((0.3, feed)) if feed else Sim.accept()
        sim = Sim(m, [first, Sim.accept(*[(0.1 * k, message(segments((0.0, 0.1 * k, "x", False))))
                                          for k in range(1, 30)])])
        assert sim.run() is FINISH
        assert (r.outcome, r.reconnects) == ("recovered", 1)


def test_reconnect_attempts_are_bounded_per_session():
    policy = ReconnectPolicy(max_attempts=2)
    m, r, _ = make(reconnect=policy)
    refuse = Sim.reply((0.05, message(status("WAIT", 1))))
    sim = Sim(m, [Sim.accept((0.3, closed())), refuse, refuse])
    assert sim.run() is FINISH
    assert (r.outcome, r.error_kind, r.reconnects) == ("dropped", "reconnect_failed", 0)
    assert r.error_detail == (
        "connection closed mid-stream (received 1000 (OK); then sent 1000 (OK)); 2 reconnect attempt(s) "
        "failed, last: server full or overloaded (WAIT 1.0 min)"
    )
    assert r.transcript_lags_s == [] and r.chunks_sent == 1  # the transcript fields are written
    m, r, _ = make(reconnect=ReconnectPolicy(max_attempts=0))
    assert Sim(m, [Sim.accept((0.3, closed()))]).run() is FINISH
    assert (r.outcome, r.error_kind) == ("dropped", "closed_mid_stream")
    assert r.error_detail is not None and r.error_detail.endswith("; no reconnect attempt left")


def test_without_a_policy_a_drop_ends_the_session():
    m, r, _ = make()
    assert Sim(m, [Sim.accept((0.3, closed()))]).run() is FINISH
    assert (r.outcome, r.error_kind, r.reconnects) == ("dropped", "closed_mid_stream", 0)
    # The one chunk sent went unanswered; the audio never sent after the drop is not counted.
    assert r.untranscribed is not None and r.untranscribed.to_json_dict() == {
        "in_flight_s": 0.25, "gap_s": 0.0, "skipped_s": 0.0
    }
    assert r.audio_untranscribed_s == 0.25


def test_a_drop_that_outlasts_the_plan_resumes_in_the_tail():
    m, r, _ = make(seconds=0.5, reconnect=ReconnectPolicy(), settle_s=1.0)
    sim = Sim(m, [Sim.accept((0.3, closed())), Sim.accept(ready_after=0.9)])
    assert sim.run() is FINISH  # ready again at 1.21 s on the live clock, past the speech
    assert (r.outcome, r.audio_lost_s) == ("recovered", pytest.approx(0.25))  # chunk 2 never went
    assert [t - T0 for t, a in sim.sends if a is m.silence_message] == pytest.approx([1.46, 1.71])
    assert r.tail_sent_s == pytest.approx(1.21)  # the tail resumed at the live position


def test_a_lost_send_keeps_its_chunk_for_the_reconnect():
    m, r, _ = make(reconnect=ReconnectPolicy())
    sim = Sim(m, [Sim.accept(), Sim.accept()])
    sim.run(until=lambda a: isinstance(a, Chunk))
    m.send_failed("connection closed")
    m.closed("received 1006 (abnormal)", False)
    assert m.next_action(sim.now) is CLOSE
    assert m.next_action(sim.now) == ReconnectAfter(0.0)
    sim.open = False
    assert sim.run() is FINISH
    # Ready again 0.06 s later, past the end of chunk 1: lost, as the unsent chunk it was.
    assert (r.outcome, r.audio_lost_s, r.audio_sent_s) == ("recovered", 0.25, 0.75)
    assert [c.end_s for _, c in sim.sends if isinstance(c, Chunk)] == [0.5, 0.75, 1.0]


def test_a_cancelled_session_keeps_its_measures_and_its_close_is_not_a_drop():
    m, r, _ = make(reference="hi", reconnect=ReconnectPolicy())
    sim = Sim(m, [Sim.accept((0.3, message(segments((0.0, 0.25, "hi", True)))))])
    sim.run(until=lambda a: isinstance(a, Chunk) and a.end_s == 0.5)
    m.cancel()
    m.closed(CLOSE_OK, False)
    m.finish()
    assert (r.outcome, r.hypothesis, r.reference, r.chunks_sent) == ("ok", "hi", "hi", 1)
    assert r.word_errors is not None and r.word_errors.errors == 0
    assert r.audio_untranscribed_s == 0.0  # chunk 2 was ours to stop, not the server's to skip


def test_speech_the_server_passed_over_is_skipped():
    m, r, _ = make(seconds=4.0)
    late = segments((0.0, 1.0, "a", True), (2.5, 4.0, "b", True))  # 1.0-2.5 never transcribed
    sim = Sim(m, [Sim.accept((4.5, message(late)))])
    assert sim.run() is FINISH
    assert r.untranscribed is not None and r.untranscribed.to_json_dict() == {
        "in_flight_s": 0.0, "gap_s": 0.0, "skipped_s": 1.5
    }
    assert r.audio_untranscribed_s == 1.5
