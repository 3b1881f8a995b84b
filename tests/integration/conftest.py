"""Session-scoped real WhisperLive replica (tiny.en) on 127.0.0.1, started through `whisperlive.replica`."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from whisperlive.readiness import wait_until_ready
from whisperlive.replica import ReplicaSpec, start_replica, stop_replica

HOST = "127.0.0.1"
MAX_CLIENTS = 8
OMP_THREADS = 1  # 2-core machine: leave a core to the test process and its clients
READY_TIMEOUT_S = 120.0
STOP_GRACE_S = 5.0


@dataclass(frozen=True)
class WhisperLiveServer:
    """A running replica: where to reach it, its log, its process."""

    url: str
    host: str
    port: int
    metrics_url: str
    log_path: Path
    process: subprocess.Popen[bytes]
    max_clients: int
    startup_s: float


def _free_port(host: str = HOST) -> int:
    """A port nothing listens on right now (bind to port 0, read it back)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def free_port() -> Callable[[], int]:
    """Call it for a port on 127.0.0.1 that nothing listens on."""
    return _free_port


@pytest.fixture(scope="session")
def whisperlive_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WhisperLiveServer]:
    """One real tiny.en replica for the whole session; stopped (SIGTERM, then SIGKILL) at the end."""
    port, metrics_port = _free_port(), _free_port()
    log_path = tmp_path_factory.mktemp("whisperlive") / f"replica-{port}.log"
    spec = ReplicaSpec(
        port=port,
        metrics_port=metrics_port,
        log_path=log_path,
        host=HOST,
        max_clients=MAX_CLIENTS,
        omp_threads=OMP_THREADS,
    )
    started = time.monotonic()
    process = start_replica(spec)
    try:
        wait_until_ready(spec.url, READY_TIMEOUT_S, process=process, log_path=log_path)
        yield WhisperLiveServer(
            url=spec.url,
            host=HOST,
            port=port,
            metrics_url=f"http://{HOST}:{metrics_port}/metrics",
            log_path=log_path,
            process=process,
            max_clients=MAX_CLIENTS,
            startup_s=time.monotonic() - started,
        )
    finally:
        stop_replica(process, STOP_GRACE_S)
    assert process.poll() is not None, f"replica pid {process.pid} still running after SIGKILL"


# The scaled local stack (3 replicas behind nginx, with Prometheus): see conftest_stack.py.
from tests.integration.conftest_stack import (  # noqa: E402, F401
    balanced_load,
    local_stack,
    shared_local_stack,
    simulator_stack,
)
