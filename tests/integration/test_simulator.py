"""The protocol simulator against the real load generator session code, in process on 127.0.0.1."""

from __future__ import annotations

import asyncio

import pytest

from loadgen.core.protocol import StreamOptions
from loadgen.core.summary import summarize
from loadgen.data.corpus import load_corpus
from loadgen.live.runner import CONTINUOUS, LoadRunner, LoadShape
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
def short_corpus(generated_corpus):
    return load_corpus(generated_corpus, limit=2)


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
