"""The generator's self-monitoring on /metrics during a real `loadgen run` against `loadgen simulate`.

The run is frozen with SIGSTOP for 0.6 s mid-stream: every stream's next send is then ~0.6 s late, so the
send slip p99 passes 50 ms and `loadgen_generator_saturated` must go to 1 (and the console must say so).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.integration
CLIENTS = 4


def _scrape(port: int) -> dict[str, float]:
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:
        return {}
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples if not s.labels}


def _wait_for(port: int, predicate, timeout_s: float) -> dict[str, float]:
    deadline, samples = time.monotonic() + timeout_s, {}
    while time.monotonic() < deadline:
        samples = _scrape(port)
        if samples and predicate(samples):
            return samples
        time.sleep(0.1)
    raise AssertionError(f"not reached within {timeout_s} s; last scrape: {samples}")


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def simulator(generated_corpus: Path, free_port) -> Iterator[int]:
    port = free_port()
    command = [sys.executable, "-m", "loadgen", "simulate", "--port", str(port), "--audio-dir",
               str(generated_corpus), "--capacity", "100", "--base-lag", "0.1"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not _listening(port):
            assert process.poll() is None and time.monotonic() < deadline, "simulator did not start"
            time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.timeout(60)
def test_loop_lag_and_saturation_flag_on_metrics_during_a_run(
    simulator, generated_corpus, tmp_path, free_port
):
    metrics_port = free_port()
    command = [sys.executable, "-m", "loadgen", "run", "--port", str(simulator), "--audio-dir",
               str(generated_corpus), "--num-clients", str(CLIENTS), "--connect-rate", "50", "--mode",
               "continuous", "--duration", "8", "--settle", "0.5", "--max-tail", "2",
               "--metrics-port", str(metrics_port), "--output-file", str(tmp_path / "s.jsonl")]
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           env={**os.environ, "COLUMNS": "200"})
    try:
        streaming = _wait_for(
            metrics_port,
            lambda s: s.get("loadgen_active_clients") == CLIENTS
            and s.get("loadgen_send_slip_seconds_count", 0) > 20,
            20,
        )
        assert streaming["loadgen_generator_saturated"] == 0
        assert streaming["loadgen_event_loop_lag_seconds_count"] > 0

        run.send_signal(signal.SIGSTOP)
        time.sleep(0.6)
        run.send_signal(signal.SIGCONT)
        stalled = _wait_for(metrics_port, lambda s: s["loadgen_generator_saturated"] == 1, 5)
        lag_count = "loadgen_event_loop_lag_seconds_count"
        assert stalled[lag_count] > streaming[lag_count]
        output, _ = run.communicate(timeout=30)
    finally:
        run.kill()
    assert "generator saturated" in output
