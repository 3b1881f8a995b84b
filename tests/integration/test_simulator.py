"""The protocol simulator against the real load generator session code, in process on 127.0.0.1."""

from __future__ import annotations

import asyncio
import shutil

import pytest

from loadgen.core.protocol import StreamOptions
from loadgen.core.speech import SpeechActivity
from loadgen.core.summary import summarize
from loadgen.data.corpus import load_corpus
from loadgen.live.runner import CONTINUOUS, IdleClients, LoadRunner, LoadShape
from loadgen.live.session import SessionSettings
from loadgen.sim.model import LagModel
from loadgen.sim.server import Simulator, run_simulator
from loadgen.telemetry.metrics import LoadgenMetrics


async def _run(corpus, model, free_port, shape, max_clients=100):
    port = free_port()
    stop = asyncio.Event()
    server = asyncio.create_task(
        run_simulator(Simulator(corpus, model, max_clients), "127.0.0.1", port, stop)
    )
    await asyncio.sleep(0.2)
    settings = SessionSettings(url=f"ws://127.0.0.1:{port}", options=StreamOptions(uid=""), settle_s=0.5)
    try:
        record = await LoadRunner(settings, corpus, shape, LoadgenMetrics()).run()
    finally:
        stop.set()
        await server
    return summarize(record.results)


@pytest.fixture(scope="module")
def short_corpus(generated_corpus, tmp_path_factory):
    """Two short files of about the same length (5.2 s, 5.3 s), so that 4 clients streaming them in turn
    all stream at once nearly all the time."""
    root = tmp_path_factory.mktemp("short")
    for name in ("cat", "printer"):
        for suffix in (".wav", ".txt"):
            shutil.copy(generated_corpus / f"{name}{suffix}", root / f"{name}{suffix}")
    return load_corpus(root)


async def test_measured_lag_equals_the_injected_lag(short_corpus, free_port):
    model = LagModel(base_s=0.2, capacity=2, per_stream_s=0.5)
    summary = await _run(short_corpus, model, free_port, LoadShape(num_clients=4, connect_rate=50))
    assert summary.outcomes["ok"] == 8
    assert summary.wer == 0.0
    # 4 streams, capacity 2: 0.2 + 2 * 0.5 while all four stream
    assert summary.transcript_lag.p50 == pytest.approx(1.2, abs=0.02)


async def test_continuous_mode_against_the_simulator_scores_zero_wer(short_corpus, free_port):
    summary = await _run(short_corpus, LagModel(base_s=0.1), free_port, LoadShape(1, mode=CONTINUOUS))
    assert summary.sessions == 1 and summary.wer == 0.0
    assert summary.transcript_lag.max == pytest.approx(0.1, abs=0.02)


async def test_above_max_clients_the_simulator_answers_wait(short_corpus, free_port):
    summary = await _run(
        short_corpus, LagModel(), free_port, LoadShape(num_clients=3, connect_rate=50), max_clients=2
    )
    assert summary.outcomes["refused"] >= 1
    assert summary.error_kinds.get("wait", 0) == summary.outcomes["refused"]


@pytest.fixture(scope="module")
def door(generated_corpus, tmp_path_factory):
    """One 4 s utterance: short talk spurts, so a short session holds several."""
    root = tmp_path_factory.mktemp("door")
    for suffix in (".wav", ".txt"):
        shutil.copy(generated_corpus / f"door{suffix}", root / f"door{suffix}")
    return load_corpus(root)


@pytest.mark.timeout(60)
async def test_the_knee_moves_with_the_speech_ratio_when_silence_is_cheap(door, free_port):
    """Silence with VAD costs a tenth of speech: 4 clients that speak about 30 % of the time, with 2 idle
    clients beside them, stay under a knee at 3 streams that 4 clients speaking all the time are beyond.
    About 30 s."""
    # 0.1 s up to a load of 3 streams, +0.5 s per stream beyond: 4 speaking streams lag 0.6 s; 3
    # speaking, one silent and 2 idle (a load of 3.3) 0.25 s
    model = LagModel(base_s=0.1, capacity=3, per_stream_s=0.5, silence_cost=0.1)
    slo_s = 0.5

    def shape(ratio: float, seconds: float, idle: int = 0) -> LoadShape:
        activity = SpeechActivity(ratio, seed=1)
        return LoadShape(4, seconds, CONTINUOUS, connect_rate=50, speech=activity, idle=IdleClients(idle))

    talking = await _run(door, model, free_port, shape(1.0, 3.0))  # one 4 s utterance each
    assert talking.speech_ratio == 1.0 and talking.outcomes["ok"] == 4
    assert talking.transcript_lag.p95 > slo_s  # 4 speaking streams: 0.6 s
    meeting = await _run(door, model, free_port, shape(0.3, 14.0, idle=2))
    assert meeting.outcomes["ok"] == 4 and meeting.idle_sessions == 2  # the idle ones, stopped at the end
    assert meeting.speech_ratio is not None and 0.15 < meeting.speech_ratio < 0.5
    assert meeting.transcript_lag.p95 < slo_s  # silent and idle streams cost a tenth
    print(
        f"p95 lag: 100 % speech {talking.transcript_lag.p95:.2f} s; "
        f"{meeting.speech_ratio:.0%} speech + 2 idle {meeting.transcript_lag.p95:.2f} s"
    )
