"""The launcher around the real upstream server: readiness by handshake, metrics on 127.0.0.1 only."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
from websockets.asyncio.client import connect

from loadgen.core.errors import NotReadyError
from loadgen.core.protocol import Ready, StreamOptions, decode
from whisperlive.readiness import check_ready, probe, wait_until_ready
from whisperlive.replica import ReplicaSpec, start_replica, stop_replica

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
REJECTED_FULL = 'whisperlive_connections_rejected_total{reason="full"}'


def scrape(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def test_readiness_passes_against_the_real_server(whisperlive_server):
    result = check_ready(whisperlive_server.url, timeout_s=30)
    assert result.ok, result.reason
    assert result.reason == "SERVER_READY (backend faster_whisper)"
    assert result.elapsed_s < 5  # the model is preloaded: no load on the first client


async def wait_until_idle(metrics_url: str, timeout_s: float = 10) -> dict[str, float]:
    """Poll the metrics until no stream is active; return the last scrape."""
    deadline = time.monotonic() + timeout_s
    samples = scrape(metrics_url)
    while samples["whisperlive_connections_active"] != 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        samples = scrape(metrics_url)
    return samples


async def test_async_probe_ends_its_stream_and_frees_the_slot(whisperlive_server):
    before = scrape(whisperlive_server.metrics_url)["whisperlive_connections_total"]
    result = await probe(whisperlive_server.url, timeout_s=30)
    assert result.ok, result.reason
    samples = await wait_until_idle(whisperlive_server.metrics_url)
    assert samples["whisperlive_connections_total"] == before + 1
    assert samples["whisperlive_connections_active"] == 0


def test_metrics_endpoint_serves_the_whisperlive_metrics(whisperlive_server):
    assert whisperlive_server.metrics_url.startswith("http://127.0.0.1:")
    samples = scrape(whisperlive_server.metrics_url)
    for name in (
        "whisperlive_connections_total",
        "whisperlive_connections_active",
        "whisperlive_audio_processed_seconds_total",
        "whisperlive_transcription_latency_seconds_count",
    ):
        assert name in samples, name


def test_nothing_listens_on_all_interfaces(whisperlive_server):
    listening = [
        conn.laddr
        for conn in psutil.Process(whisperlive_server.process.pid).net_connections(kind="inet")
        if conn.status == psutil.CONN_LISTEN
    ]
    metrics_port = int(whisperlive_server.metrics_url.rsplit(":", 1)[1].split("/")[0])
    assert {addr.port for addr in listening} == {whisperlive_server.port, metrics_port}
    assert {addr.ip for addr in listening} == {"127.0.0.1"}


async def test_a_full_server_answers_wait_and_the_probe_says_so(whisperlive_server):
    rejected_before = scrape(whisperlive_server.metrics_url).get(REJECTED_FULL, 0.0)
    holders = []
    try:
        for index in range(whisperlive_server.max_clients):
            ws = await connect(whisperlive_server.url)
            holders.append(ws)
            uid = f"holder-{index}"
            await ws.send(StreamOptions(uid=uid).to_json())
            assert isinstance(decode(await asyncio.wait_for(ws.recv(), 30), uid), Ready)
        result = await probe(whisperlive_server.url, timeout_s=10)
        assert not result.ok and result.wait
        assert result.reason.startswith("WAIT: server full")
        assert scrape(whisperlive_server.metrics_url)[REJECTED_FULL] == rejected_before + 1
    finally:
        for ws in holders:
            await ws.close()
    assert (await wait_until_idle(whisperlive_server.metrics_url))["whisperlive_connections_active"] == 0


def test_readiness_against_a_closed_port_fails_fast_and_clearly(free_port):
    started = time.monotonic()
    result = check_ready(f"ws://127.0.0.1:{free_port()}", timeout_s=10)
    assert not result.ok
    assert result.reason == "connection refused"
    assert time.monotonic() - started < 2


def test_ready_cli_exit_codes(whisperlive_server, free_port):
    def ready(url: str, timeout_s: int = 10) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "whisperlive", "ready", "--url", url, "--timeout", str(timeout_s)]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=REPO)

    up = ready(whisperlive_server.url)
    assert up.returncode == 0, up.stdout + up.stderr
    assert up.stdout.startswith(f"ready: {whisperlive_server.url}: SERVER_READY")
    down = ready(f"ws://127.0.0.1:{free_port()}", timeout_s=1)
    assert down.returncode == 1
    assert down.stdout.strip().splitlines() == [down.stdout.strip()]
    assert "not ready within 1 s: connection refused" in down.stdout


def test_wait_until_ready_fails_fast_with_the_log_tail_when_the_replica_dies(tmp_path, free_port):
    spec = ReplicaSpec(
        port=free_port(),
        metrics_port=free_port(),
        log_path=tmp_path / "bad.log",
        model=str(tmp_path / "none"),
    )
    process = start_replica(spec)
    started = time.monotonic()
    try:
        with pytest.raises(NotReadyError) as failure:
            wait_until_ready(spec.url, 60, process=process, log_path=spec.log_path)
    finally:
        stop_replica(process)
    assert time.monotonic() - started < 30
    message = str(failure.value)
    assert message.startswith(f"server process exited with code 3 before {spec.url} was ready")
    assert "no such directory" in message


def test_an_api_key_is_required_and_a_wrong_one_fails_at_once(tmp_path, free_port):
    spec = ReplicaSpec(port=free_port(), metrics_port=0, log_path=tmp_path / "key.log")
    process = start_replica(spec, env={"WHISPERLIVE_API_KEY": "s3cret"})
    try:
        assert wait_until_ready(spec.url, 120, process=process, log_path=spec.log_path, api_key="s3cret").ok
        refused = check_ready(spec.url, timeout_s=10)
        assert refused.final and not refused.ok
        assert refused.reason == "handshake refused with HTTP 401: wrong or missing --api-key"
        started = time.monotonic()
        with pytest.raises(NotReadyError, match="wrong or missing --api-key"):
            wait_until_ready(spec.url, 60, process=process, api_key="wrong")
        assert time.monotonic() - started < 5
    finally:
        stop_replica(process)
