"""`--workers K` against `loadgen simulate`: K processes split the clients, the ramp still finds the
knee from their merged windows, the parent serves one set of metrics, and nothing measured is lost when
the run is stopped."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from loadgen.data.results_file import read_results
from loadgen.data.run_dir import RunDir
from tests.metrics_text import samples_of
from tests.simulator_process import FAST_RAMP, simulator


def _metrics(port: int) -> dict[str, float]:
    """Unlabelled samples of the parent's /metrics, or {} while it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return {}
    return {name: value for (name, labels), value in samples_of(text).items() if not labels}


def _loadgen(args: list[str]) -> subprocess.Popen:
    """`python -m loadgen ARGS`, its output captured as text."""
    return subprocess.Popen(
        [sys.executable, "-m", "loadgen", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _watch(process: subprocess.Popen, port: int, until_s: float) -> list[dict[str, float]]:
    """Scrape the parent every 0.3 s while it runs."""
    seen = []
    deadline = time.monotonic() + until_s
    while process.poll() is None and time.monotonic() < deadline:
        if sample := _metrics(port):
            seen.append(sample)
        time.sleep(0.3)
    return seen


@pytest.mark.timeout(150)
def test_ramp_with_two_workers_finds_the_knee_and_serves_their_summed_metrics(
    generated_corpus, free_port, tmp_path
):
    metrics_port, run_dir = free_port(), tmp_path / "run"
    with simulator(generated_corpus, free_port(), tmp_path / "sim.log", capacity=3) as url:
        command = [
            "ramp",
            "--url",
            url,
            "--audio-dir",
            str(generated_corpus),
            "--run-dir",
            str(run_dir),
            *FAST_RAMP,
            "--hold",
            "1",  # FAST_RAMP's 2 s holds, halved (the last --hold wins)
            "--workers",
            "2",
            "--metrics-port",
            str(metrics_port),
        ]
        process = _loadgen(command)
        seen = _watch(process, metrics_port, until_s=120)
        out, _ = process.communicate(timeout=30)
    assert process.returncode == 0, out
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["workers"] == 2 and manifest["outcome"]["capacity"] == 3, out  # 3 = 2 + 1 clients
    # the parent's /metrics: both workers answered, and the clients add up beyond what either ran
    assert max(s.get("loadgen_workers_up", 0) for s in seen) == 2
    assert max(s.get("loadgen_active_clients", 0) for s in seen) == 4  # the 4-client step: 2 + 2
    assert max(s.get("loadgen_step", -1) for s in seen) >= 3  # steps 1, 2, 4, then 3 clients
    # each worker recorded its own sessions; the run directory reads them as one
    for shard in (0, 1):
        assert read_results(RunDir(run_dir, shard).file("sessions.jsonl"))[0]
        assert (run_dir / "workers" / f"worker-{shard}.log").exists()
    sessions, torn = RunDir(run_dir).read_sessions()
    assert len(sessions) == 4 and not torn  # the most clients at once, each one continuous session


@pytest.mark.timeout(90)
def test_run_with_two_workers_merges_sessions_and_keeps_them_when_stopped(
    generated_corpus, free_port, tmp_path
):
    metrics_port, out_file = free_port(), tmp_path / "out" / "sessions.jsonl"
    with simulator(generated_corpus, free_port(), tmp_path / "sim.log", capacity=10) as url:
        command = [
            "run",
            "--url",
            url,
            "--audio-dir",
            str(generated_corpus),
            "--num-clients",
            "3",
            "--workers",
            "2",
            "--mode",
            "continuous",
            "--duration",
            "60",
            "--connect-rate",
            "20",
            "--settle",
            "0.5",
            "--output-file",
            str(out_file),
            "--metrics-port",
            str(metrics_port),
        ]
        process = _loadgen(command)
        deadline = time.monotonic() + 40
        while _metrics(metrics_port).get("loadgen_active_clients") != 3:
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()[0]
            time.sleep(0.3)
        time.sleep(2)  # some audio streamed and transcribed on every client
        process.send_signal(signal.SIGTERM)  # the parent only: it stops its workers
        out, _ = process.communicate(timeout=60)
    assert process.returncode == 130, out
    sessions, torn = read_results(out_file)
    assert len(sessions) == 3 and not torn, out  # one continuous session per client, none lost
    assert {s.client for s in sessions} == {0, 1}  # the clients' indexes are per worker (2 + 1)
    assert all(s.audio_sent_s > 0 and s.transcript_lags_s for s in sessions)
    assert {s.outcome for s in sessions} == {"stopped"}
    summary = json.loads(out_file.with_suffix(".summary.json").read_text())
    assert summary["manifest"]["interrupted"] and summary["manifest"]["peak_streams"] == 3
    assert summary["summary"]["sessions"] == 3
    assert not list((tmp_path / "out" / "sessions.workers").glob("sessions.worker-*.jsonl"))  # merged
