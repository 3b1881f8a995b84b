"""Every hostile-server case, played by the simulator (`loadgen simulate --fault MODE`), against the real
session code: each is classified and counted, and the load generator survives it. In process, 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
import uuid
from contextlib import asynccontextmanager

import pytest

from loadgen.core.protocol import StreamOptions
from loadgen.core.reconnect import ReconnectPolicy
from loadgen.core.session_result import SessionResult
from loadgen.core.stream_audio import build_plan, silence
from loadgen.data.corpus import load_corpus
from loadgen.live.session import SessionSettings, StreamSession
from loadgen.sim.model import FAULT_MODES, LagModel
from loadgen.sim.server import Simulator, run_simulator
from loadgen.telemetry.metrics import LoadgenMetrics
from tests.corpus_clips import clipped

pytestmark = pytest.mark.timeout(60)
BASE_LAG_S = 0.1


@pytest.fixture(scope="module")
def corpus(generated_corpus):
    return load_corpus(generated_corpus, limit=3)


@asynccontextmanager
async def simulator(corpus, free_port, fault: str):
    port = free_port()
    stop = asyncio.Event()
    sim = Simulator(corpus, LagModel(base_s=BASE_LAG_S), max_clients=100, fault=FAULT_MODES[fault])
    server = asyncio.create_task(run_simulator(sim, "127.0.0.1", port, stop))
    await asyncio.sleep(0.1)
    try:
        yield f"ws://127.0.0.1:{port}"
    finally:
        stop.set()
        await server


def settings_for(url: str, **overrides) -> SessionSettings:
    base = dict(
        url=url, options=StreamOptions(uid=""), settle_s=0.5, ready_timeout_s=1.0, stall_timeout_s=1.0
    )
    return SessionSettings(**{**base, **overrides})


async def stream(settings, audio, reference=None, metrics=None) -> SessionResult:
    result = SessionResult(0, 0, str(uuid.uuid4()), ["x"], time.time())
    plan = build_plan(audio, silence(1.0))
    return await StreamSession(settings, plan, result, reference, metrics or LoadgenMetrics()).run()


async def one_session(corpus, free_port, fault: str, seconds: float = 2.0, **overrides) -> SessionResult:
    clip = clipped(corpus, seconds)
    async with simulator(clip, free_port, fault) as url:
        return await stream(settings_for(url, **overrides), [clip.utterances[0].audio])


# mode -> (outcome, error kind, protocol errors counted, warnings)
EXPECTED = {
    "none": ("ok", None, {}, 0),
    "malformed-json": ("ok", None, {"bad_json": 2}, 0),
    "wrong-uid": ("ok", None, {"wrong_uid": 2}, 0),
    "unknown-type": ("ok", None, {"unknown_type": 2}, 0),
    "warning": ("ok", None, {}, 2),
    "error": ("error", "server_error", {}, 0),
    "error-mid-stream": ("error", "server_error", {}, 0),
    "wait": ("refused", "wait", {}, 0),
    "disconnect": ("dropped", "server_disconnect", {}, 0),
    "no-ready": ("error", "ready_timeout", {}, 0),
    "close-in-handshake": ("error", "closed_in_handshake", {}, 0),
    "mute": ("error", "stalled", {}, 0),
    "oversized": ("error", "oversized_message", {"oversized": 1}, 0),
    "drop": ("dropped", "closed_mid_stream", {}, 0),
}


def test_every_fault_mode_has_an_expectation():
    assert set(EXPECTED) == set(FAULT_MODES)


@pytest.mark.parametrize("fault", sorted(EXPECTED))
async def test_each_hostile_server_mode_is_classified_and_survived(corpus, free_port, fault):
    outcome, kind, protocol_errors, warnings = EXPECTED[fault]
    result = await one_session(corpus, free_port, fault)
    assert (result.outcome, result.error_kind) == (outcome, kind), result.error_detail
    assert result.protocol_errors == protocol_errors
    assert len(result.warnings) == warnings
    if outcome == "ok":
        assert result.hypothesis and result.transcript_lags_s


async def test_a_dropped_stream_reconnects_resumes_on_the_live_clock_and_keeps_its_transcript(
    corpus, free_port
):
    corpus = clipped(corpus, 2.5)  # three 2.5 s utterances: the drop at 1.5 s cuts the first one
    metrics = LoadgenMetrics()
    reference = " ".join(u.reference for u in corpus.utterances)
    async with simulator(corpus, free_port, "drop") as url:  # each uid's first connection drops at 1.5 s
        settings = settings_for(url, reconnect=ReconnectPolicy(max_attempts=3), stall_timeout_s=10.0)
        result = await stream(settings, [u.audio for u in corpus.utterances], reference, metrics)
    assert result.outcome == "recovered", result.error_detail
    assert result.reconnects == 1 and len(result.replicas) == 2
    [gap] = result.reconnect_s
    assert 0 < gap < 0.5  # the first retry is immediate
    assert result.offline_s == pytest.approx(gap)
    assert 0 <= result.audio_lost_s <= settings.chunk_s + 1e-9  # at most the chunk spoken during the gap
    # lags after the reconnect are measured against the original schedule: still the injected lag
    assert max(result.transcript_lags_s) == pytest.approx(BASE_LAG_S, abs=0.05)
    # the first utterance was cut by the drop (deletions); the next ones are complete and in order
    assert result.word_errors is not None and result.word_errors.insertions == 0
    later = " ".join(u.reference for u in corpus.utterances[1:])
    assert result.hypothesis.endswith(later)
    registry = metrics.registry
    assert registry.get_sample_value("loadgen_reconnects_total", {"result": "ok"}) == 1
    assert registry.get_sample_value("loadgen_reconnects_total", {"result": "failed"}) == 0
    assert registry.get_sample_value("loadgen_reconnect_duration_seconds_count") == 1


async def test_reconnects_are_bounded(corpus, free_port):
    # every connection gets DISCONNECT with its first audio: reconnecting never helps
    result = await one_session(
        corpus, free_port, "disconnect", reconnect=ReconnectPolicy(max_attempts=2, base_s=0.05)
    )
    assert (result.outcome, result.error_kind) == ("dropped", "server_disconnect")
    assert result.reconnects == 2 and "no reconnect attempt left" in (result.error_detail or "")


async def test_a_stalled_server_is_left_for_another_replica_when_reconnecting(corpus, free_port):
    # 1 s without a transcript on each connection, 4 s of speech: the new connection stalls too
    result = await one_session(corpus, free_port, "mute", 4.0, reconnect=ReconnectPolicy(max_attempts=1))
    assert (result.outcome, result.error_kind, result.reconnects) == ("error", "stalled", 1)


@pytest.mark.parametrize("fault", ["none", "oversized", "drop", "close-in-handshake", "no-ready", "mute"])
async def test_the_websockets_client_classifies_the_transport_faults_the_same(corpus, free_port, fault):
    # picows is the default client (every case above); these cases are the ones where the client matters
    outcome, kind, protocol_errors, _ = EXPECTED[fault]
    result = await one_session(corpus, free_port, fault, ws_client="websockets")
    assert (result.outcome, result.error_kind) == (outcome, kind), result.error_detail
    assert result.protocol_errors == protocol_errors
