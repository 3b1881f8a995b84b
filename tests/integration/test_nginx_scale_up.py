"""A scale-up as nginx sees it: the balancer lists replicas that do not listen yet (Docker DNS lists a new
container at once; `least_conn` prefers it, having no streams). Real nginx with the rendered local config,
one real simulator replica (`loadgen simulate`) listening behind eight listed ports where nothing listens:
every WebSocket upgrade still succeeds. The same config with the former upstream settings (3 tries,
max_fails=2) fails connects, which is what the rendered settings fix."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from stack.local import SimulatorSettings
from stack.render import NginxTarget, render_nginx
from whisperlive.readiness import wait_until_ready

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
HOST = "127.0.0.1"
NOT_LISTENING = 8
CONNECTS = 40
BEFORE_FIX = {"proxy_next_upstream_tries 0;": "proxy_next_upstream_tries 3;", "max_fails=1": "max_fails=2"}


def free_ports(count: int) -> list[int]:
    """Ports nothing listens on (all bound at once, so they differ)."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind((HOST, 0))
        return [int(probe.getsockname()[1]) for probe in probes]
    finally:
        for probe in probes:
            probe.close()


@pytest.fixture
def simulator(generated_corpus: Path, tmp_path: Path) -> Iterator[int]:
    """One simulator replica; its port."""
    (port,) = free_ports(1)
    command = SimulatorSettings(generated_corpus, capacity=100).command(HOST, port, max_clients=100)
    with (tmp_path / "simulator.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_ready(f"ws://{HOST}:{port}", 60, process=process)
        yield port
    finally:
        process.terminate()
        process.wait(10)


def start_nginx(tmp_path: Path, config: str) -> tuple[subprocess.Popen[bytes], int]:
    """nginx running `config` under prefix tmp_path/nginx; its balancer port."""
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    (tmp_path / "nginx.conf").write_text(config)
    argv = [shutil.which("nginx") or "nginx", "-p", f"{prefix}/", "-c", str(tmp_path / "nginx.conf")]
    process = subprocess.Popen([*argv, "-g", "daemon off;"])
    return process, int(config.split("listen 127.0.0.1:")[1].split(";")[0])


def scale_up_config(tmp_path: Path, live_port: int) -> str:
    """The local config over NOT_LISTENING new replicas (listed first) and the one that listens."""
    balancer, status, *dead = free_ports(2 + NOT_LISTENING)
    target = NginxTarget(
        banner="scale-up test",
        listen=f"{HOST}:{balancer}",
        status_listen=f"{HOST}:{status}",
        status_allow=(HOST,),
        servers=(*(f"{HOST}:{port}" for port in dead), f"{HOST}:{live_port}"),
        access_log=str(tmp_path / "access.log"),
        error_log=str(tmp_path / "error.log"),
    )
    return render_nginx(target)


async def upgrades(url: str) -> tuple[int, int]:
    """Open CONNECTS WebSockets through the balancer, in waves like a ramp; (upgraded, failed)."""

    async def one() -> bool:
        try:
            async with connect(url, open_timeout=15):
                return True
        except InvalidStatus:  # nginx answers 502 when its tries ran out
            return False

    results: list[bool] = []
    for _ in range(CONNECTS // 10):
        results += await asyncio.gather(*(one() for _ in range(10)))
    return results.count(True), results.count(False)  # (upgraded, failed)


def wait_listening(port: int, process: subprocess.Popen[bytes], timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nginx is not listening on {port} (exit code {process.poll()})")


def run_against(tmp_path: Path, config: str) -> tuple[int, int, str]:
    process, port = start_nginx(tmp_path, config)
    try:
        wait_listening(port, process)  # not by a handshake: that would try (and mark) replicas first
        upgraded, failed = asyncio.run(upgrades(f"ws://{HOST}:{port}"))
    finally:
        process.terminate()
        process.wait(10)
    return upgraded, failed, (tmp_path / "error.log").read_text()


def test_connects_succeed_while_new_replicas_do_not_listen_yet(simulator, tmp_path):
    upgraded, failed, errors = run_against(tmp_path, scale_up_config(tmp_path, simulator))
    tried = errors.count("Connection refused")
    print(f"rendered config: {upgraded} upgraded, {failed} failed; {tried} refused connects retried")
    assert (upgraded, failed) == (CONNECTS, 0)
    assert "Connection refused" in errors  # the new replicas were tried, and skipped


def test_the_former_settings_fail_connects_in_the_same_scale_up(simulator, tmp_path):
    config = scale_up_config(tmp_path, simulator)
    for fixed, former in BEFORE_FIX.items():
        assert fixed in config
        config = config.replace(fixed, former)
    upgraded, failed, _ = run_against(tmp_path, config)
    print(f"former config: {upgraded} upgraded, {failed} failed (502)")
    assert failed > 0
