"""The scaled local stack for integration and load tests: 3 real tiny.en replicas behind nginx, with
Prometheus, on 127.0.0.1 at free non-default ports, started once per session.

Fixtures (imported by tests/integration/conftest.py):
- `shared_local_stack` (session): the `stack.local.LocalStack`, as it is; stopped at the end of the session.
- `local_stack` (function): the same stack, first brought back to fully running (a test may have killed a
  replica or run `down`). Use it for load through `local_stack.balancer_url`.
- `balanced_load` (session): one `loadgen run` of 6 clients through the stack's balancer, Prometheus
  scraping it; what test_scaled_load.py and test_report_resources.py check, streamed once for both.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from loadgen.core.session_result import SessionResult
from loadgen.data.results_file import read_results
from stack.local import LocalStack, SimulatorSettings, StackSettings
from stack.ports import LocalPorts, free_base_port
from tests.metrics_text import samples_of
from tests.prometheus_api import query
from whisperlive.replica import ReplicaSpec

STACK_REPLICAS = 3
STACK_MAX_CLIENTS = 4
STACK_OMP_THREADS = 1  # 2-core machine
STACK_READY_TIMEOUT_S = 240.0
REPO = Path(__file__).resolve().parents[2]
BALANCED_CLIENTS = 6
BALANCED_DURATION_S = 20
BALANCED_CONNECT_RATE = 2
SCRAPE_S = 5  # the stack's scrape interval
ACTIVE = "whisperlive_connections_active"


@pytest.fixture(scope="session")
def shared_local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """Start the stack once per session; `down` at the end."""
    settings = StackSettings(
        replicas=STACK_REPLICAS,
        model="tiny.en",
        max_clients=STACK_MAX_CLIENTS,
        omp_threads=STACK_OMP_THREADS,
        run_dir=tmp_path_factory.mktemp("stack"),
        ports=LocalPorts(free_base_port(STACK_REPLICAS)),
        ready_timeout_s=STACK_READY_TIMEOUT_S,
    )
    with LocalStack(settings) as stack:
        yield stack


@pytest.fixture
def local_stack(shared_local_stack: LocalStack) -> LocalStack:
    """The session's stack, every replica, nginx and Prometheus running and ready."""
    shared_local_stack.ensure_up()
    return shared_local_stack


@dataclass(frozen=True)
class BalancedLoad:
    """A finished `loadgen run` through the balancer: its exit, output and sessions, its wall-clock span,
    and the exporters' samples just before and just after it."""

    returncode: int
    stdout: str
    stderr: str
    results: list[SessionResult]
    started: float
    ended: float
    exporters_before: dict[tuple[str, str], float]
    exporters_after: dict[tuple[str, str], float]


def exporter_samples(stack: LocalStack) -> dict[tuple[str, str], float]:
    """(metric, name label) -> value from the stack's exporters process."""
    with urllib.request.urlopen(f"{stack.exporters_url}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        (s.name, s.labels.get("name", "")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def wait_for_scrapes_after(prometheus_url: str, at: float, timeout_s: float = 6 * SCRAPE_S) -> None:
    """Until Prometheus has scraped every target (the load generator's, down by then, included) after the
    Unix time `at`."""
    deadline = time.monotonic() + timeout_s
    while True:
        oldest = query(prometheus_url, "min(timestamp(up))")
        if oldest and float(oldest[0]["value"][1]) > at:
            return
        assert time.monotonic() < deadline, f"Prometheus scraped nothing after {at:.3f}: {oldest}"
        time.sleep(0.5)


@pytest.fixture(scope="session")
def balanced_load(
    shared_local_stack: LocalStack, generated_corpus: Path, tmp_path_factory: pytest.TempPathFactory
) -> BalancedLoad:
    """`loadgen run` of 6 clients for 20 s through the balancer (2 connects a second, the generator's
    metrics scraped by the stack's Prometheus), once per session; returned after Prometheus has taken
    its last scrape of it."""
    stack = shared_local_stack
    stack.ensure_up()
    out = tmp_path_factory.mktemp("balanced-load") / "sessions.jsonl"
    before = exporter_samples(stack)
    started = time.time()
    command = [
        sys.executable, "-m", "loadgen", "run", "--url", stack.balancer_url,
        "--num-clients", str(BALANCED_CLIENTS), "--duration", str(BALANCED_DURATION_S),
        "--connect-rate", str(BALANCED_CONNECT_RATE), "--audio-dir", str(generated_corpus),
        "--metrics-port", str(stack.settings.ports.loadgen_metrics), "--output-file", str(out),
    ]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, timeout=400, cwd=REPO)
    ended = time.time()
    after = exporter_samples(stack)
    results, _ = read_results(out)
    wait_for_scrapes_after(stack.prometheus_url, ended)  # Prometheus's last scrape of the run
    return BalancedLoad(proc.returncode, proc.stdout, proc.stderr, results, started, ended, before, after)


@pytest.fixture
def simulator_stack(tmp_path: Path, generated_corpus: Path) -> Iterator[LocalStack]:
    """The local stack with 3 simulator replicas (no model, 0.2 s lag, no overload): for tests of the
    generators themselves (sharding, fault injection), where real replicas would only add time."""
    settings = StackSettings(
        replicas=3,
        max_clients=8,
        run_dir=tmp_path / "stack",
        ports=LocalPorts(free_base_port(3)),
        simulator=SimulatorSettings(generated_corpus, capacity=100, base_lag_s=0.2, per_stream_lag_s=0.0),
        ready_timeout_s=60,
    )
    with LocalStack(settings) as stack:
        yield stack


def start_loadgen_run(
    url: str, corpus: Path, run_dir: Path, clients: int, files: int, mode: str
) -> subprocess.Popen[str]:
    """`loadgen run --reconnect --run-dir RUN_DIR` (`files` files per client) in the background, its
    output piped (text)."""
    command = [
        sys.executable, "-m", "loadgen", "run", "--url", url, "--num-clients", str(clients),
        "--mode", mode, "--audio-dir", str(corpus), "--limit", str(files), "--reconnect",
        "--run-dir", str(run_dir),
    ]  # fmt: skip
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def metrics_url(spec: ReplicaSpec) -> str:
    """A replica's /metrics."""
    return f"http://{spec.host}:{spec.metrics_port}/metrics"


def active_streams(url: str) -> float:
    """The open streams of the replica whose /metrics is at `url`."""
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return samples_of(text).get((ACTIVE, ()), 0.0)


def wait_until_streaming(urls: list[str], clients: int, loadgen: subprocess.Popen[str]) -> None:
    """Until the replicas whose /metrics are at `urls` hold `clients` streams in all: every client of the
    `loadgen` process (start_loadgen_run) streams."""
    deadline = time.monotonic() + 60
    while sum(map(active_streams, urls)) < clients:
        assert loadgen.poll() is None and time.monotonic() < deadline, f"{clients} clients never all streamed"
        time.sleep(0.2)
