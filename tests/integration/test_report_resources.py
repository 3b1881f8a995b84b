"""resources.py against a real Prometheus that scraped real targets: the local stack (3 tiny.en replicas,
nginx, exporters) while `loadgen run` streamed through the balancer. No GPU here, so the DCGM queries
must come back empty rather than fail."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from loadgen.data.results_file import read_results
from loadgen.report.edge.resources import Window, fetch_resources

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
DURATION_S = 40
SCRAPE_S = 5  # the stack's scrape interval


def test_step_windows_carry_cpu_memory_sessions_and_nginx_per_replica(
    local_stack, generated_corpus, tmp_path
):
    out = tmp_path / "sessions.jsonl"
    started = time.time()
    load = f"--num-clients 3 --duration {DURATION_S} --connect-rate 3 --audio-dir {generated_corpus}".split()
    metrics = ["--metrics-port", str(local_stack.settings.ports.loadgen_metrics), "--output-file", str(out)]
    command = [sys.executable, "-m", "loadgen", "run", "--url", local_stack.balancer_url, *load, *metrics]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO)
    ended = time.time()
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    results, _ = read_results(out)
    served = {r.replica for r in results if r.replica}
    time.sleep(SCRAPE_S + 1)  # let Prometheus take its last scrape of the window

    windows = [Window(0, started + 10, ended), Window(1, started - 86400, started - 86000)]
    resources, warning = fetch_resources(local_stack.prometheus_url, windows)
    assert warning is None
    step = resources[0]
    names = {f"whisperlive-{i}" for i in range(1, len(local_stack.replica_addresses) + 1)}
    assert set(step.replicas) == names
    assert all(u.memory_bytes and u.memory_bytes > 100e6 for u in step.replicas.values()), step.replicas
    assert all(u.cpu_cores is not None for u in step.replicas.values())
    assert sum(u.cpu_cores or 0 for u in step.replicas.values()) > 0.2  # they transcribed
    assert all(u.cpu_limit_cores is None for u in step.replicas.values())  # local processes have no quota
    assert set(step.sessions_by_replica) <= set(local_stack.replica_addresses)
    assert set(step.sessions_by_replica) & served and sum(step.sessions_by_replica.values()) > 0
    assert step.nginx_active_max is not None and step.nginx_active_max >= 1
    assert step.gpus == {}  # no GPU on this machine: absent, not an error
    assert resources[1].replicas == {}  # a day before the stack existed: nothing


def test_unreachable_prometheus_is_one_warning_and_nothing_else(free_port):
    resources, warning = fetch_resources(f"http://127.0.0.1:{free_port()}", [Window(0, 1.0, 100.0)])
    assert resources == {}
    assert warning is not None and "\n" not in warning and "no resource data" in warning
