"""The client pool against the in-process simulator: bounded connect rate, retirement, back-to-back sessions,
refusals retried, and the window fed by live samples."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from loadgen.core.protocol import StreamOptions
from loadgen.core.session_result import SessionResult
from loadgen.core.speech import SpeechActivity
from loadgen.data.corpus import Corpus, load_corpus
from loadgen.live.pool import PoolShape
from loadgen.live.runner import CONTINUOUS, PER_FILE, IdleClients
from loadgen.live.service import LoadService, WindowedMetrics
from loadgen.live.session import SessionSettings
from loadgen.sim.model import LagModel
from loadgen.sim.server import Simulator, run_simulator


@pytest.fixture(scope="module")
def corpus(generated_corpus: Path) -> Corpus:
    return load_corpus(generated_corpus, limit=5)  # door (4.0 s) is the 5th file


@asynccontextmanager
async def _service(corpus, port, shape, results, max_clients=100) -> AsyncIterator[LoadService]:
    stop = asyncio.Event()
    server = asyncio.create_task(
        run_simulator(Simulator(corpus, LagModel(base_s=0.05), max_clients), "127.0.0.1", port, stop)
    )
    await asyncio.sleep(0.2)
    settings = SessionSettings(url=f"ws://127.0.0.1:{port}", options=StreamOptions(uid=""), settle_s=0.3)
    try:
        async with LoadService(settings, corpus, shape, WindowedMetrics(), [results.append]) as service:
            yield service
    finally:
        stop.set()
        await server


async def _until(condition, timeout_s=15.0):
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)


@pytest.mark.timeout(60)
async def test_clients_start_at_the_connect_rate_and_the_highest_ids_retire_first(corpus, free_port):
    results: list[SessionResult] = []
    async with _service(corpus, free_port(), PoolShape(CONTINUOUS, connect_rate=10), results) as service:
        started = time.monotonic()
        await service.set_target(4)
        await _until(lambda: service.launcher.streams == 4)
        assert time.monotonic() - started >= 0.3  # the 4th client starts 3/10 s after the first
        await service.set_target(1)
        assert service.pool.clients == 1
        await _until(lambda: service.pool.retiring == 0 and service.launcher.streams == 1)
        assert sorted((r.client, r.outcome, r.error_kind) for r in results) == [
            (1, "stopped", "retired"),
            (2, "stopped", "retired"),
            (3, "stopped", "retired"),
        ]
        assert service.metrics.registry.get_sample_value("loadgen_target_clients") == 1
        assert service.metrics.registry.get_sample_value("loadgen_active_clients") == 1
    assert [(r.client, r.error_kind) for r in results[3:]] == [(0, "stopped")]


@pytest.mark.timeout(30)
async def test_idle_clients_stay_for_the_whole_pool_outside_every_window(corpus, free_port):
    results: list[SessionResult] = []
    idle = IdleClients(2, "nothing")
    shape = PoolShape(CONTINUOUS, connect_rate=20, speech=SpeechActivity(0.5), idle=idle)
    async with _service(corpus, free_port(), shape, results) as service:
        await service.set_target(2)
        await _until(lambda: service.launcher.streams == 2)
        await service.start_window()
        await asyncio.sleep(1.0)
        await service.set_target(0)  # the measured clients retire; the idle ones stay
        await _until(lambda: service.pool.retiring == 0)
        reading = await service.window()
        assert [(r.idle, r.error_kind) for r in results] == [(False, "retired")] * 2
        assert reading.active == 0 and reading.window.sessions["stopped"] == 2
        assert reading.window.connects_ready == 2  # the measured clients': not the idle ones
        assert reading.window.speech_ratio is not None
    idled = [r for r in results if r.idle]
    assert sorted((r.client, r.outcome, r.error_kind, r.chunks_sent) for r in idled) == [
        (0, "stopped", "idle_end", 0),
        (1, "stopped", "idle_end", 0),
    ]
    assert all(r.server_ready_s is not None and r.reference is None for r in idled)


@pytest.mark.timeout(60)
async def test_per_file_clients_stream_sessions_back_to_back(corpus, free_port):
    results: list[SessionResult] = []
    async with _service(corpus, free_port(), PoolShape(PER_FILE, connect_rate=50), results) as service:
        await service.set_target(1)
        await service.start_window()
        await _until(lambda: len(results) >= 2, timeout_s=30)
        window = (await service.window()).window
    first, second = results[:2]
    assert (first.outcome, second.outcome) == ("ok", "ok")
    assert (first.seq, second.seq) == (0, 1) and first.utterances != second.utterances
    assert window.sessions["ok"] >= 2 and window.wer == 0.0
    assert window.transcript_lag is not None
    assert window.transcript_lag.p95 == pytest.approx(0.05, abs=0.03)
    assert service.metrics.registry.get_sample_value("loadgen_step_wer_ratio") == 0.0


@pytest.mark.timeout(60)
async def test_refused_clients_retry_and_the_window_counts_them(corpus, free_port):
    results: list[SessionResult] = []
    shape = PoolShape(CONTINUOUS, connect_rate=50, retry_s=0.2)
    async with _service(corpus, free_port(), shape, results, max_clients=1) as service:
        await service.set_target(2)
        await service.start_window()
        await asyncio.sleep(1.5)
        window = (await service.window()).window
    assert window.sessions["refused"] >= 3  # the second client keeps being told WAIT
    assert window.connects_ready == 1 and window.connect_attempts == 1 + window.sessions["refused"]
