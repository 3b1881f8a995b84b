"""The exporter against a REAL nginx (Debian's, started here with a minimal config) and real processes:
first the nginx collector behind the real `/metrics` server, then `python -m exporters` end to end."""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from exporters.nginx_status import NginxSource
from exporters.server import bind, serve
from tests.metrics_text import samples_of

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
NGINX_CONF = """
worker_processes 1;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location = /nginx_status {{ stub_status; }}
        location / {{ return 200 "ok\\n"; }}
    }}
}}
"""
IDLE_REPLICA = "import os, sys, time\nopen(sys.argv[1], 'w').write(str(os.getpid()))\ntime.sleep(120)\n"


def value(samples: dict, metric: str, **labels: str) -> float:
    return samples[(metric, tuple(sorted(labels.items())))]


@dataclass
class Nginx:
    """A running nginx: its base URL, its stub_status URL, its process."""

    url: str
    status_url: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def _wait_http(url: str, timeout_s: float, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            assert process.poll() is None, f"pid {process.pid} exited with {process.returncode}"
            assert time.monotonic() < deadline, f"{url} did not answer in {timeout_s} s"
            time.sleep(0.05)


@pytest.fixture
def nginx(tmp_path, free_port) -> Iterator[Nginx]:
    if not Path(NGINX).exists():
        pytest.skip("nginx is not installed")
    port = free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp_path, port=port))
    error_log = tmp_path / "error.log"
    process = subprocess.Popen(
        [
            NGINX,
            "-p",
            str(tmp_path),
            "-e",
            str(error_log),
            "-c",
            str(conf),
            "-g",
            f"daemon off; pid {tmp_path}/nginx.pid; error_log {error_log};",
        ]
    )
    server = Nginx(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}/nginx_status", process)
    try:
        _wait_http(server.status_url, 10, process)
        yield server
    finally:
        if process.poll() is None:
            server.stop()


async def _scrape(session: aiohttp.ClientSession, url: str) -> tuple[str, float]:
    started = time.perf_counter()
    async with session.get(url) as response:
        assert response.status == 200
        return await response.text(), time.perf_counter() - started


async def test_nginx_collector_follows_load_then_reports_nginx_down(nginx, free_port):
    port = free_port()
    stop = asyncio.Event()
    server = asyncio.create_task(
        serve([NginxSource(nginx.status_url, timeout_s=2)], bind("127.0.0.1", port), 0.2, stop)
    )
    metrics_url = f"http://127.0.0.1:{port}/metrics"
    try:
        async with aiohttp.ClientSession() as scraper:
            for _ in range(100):  # the server starts listening after the first round of polls
                try:
                    text, _ = await _scrape(scraper, metrics_url)
                    break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            before = samples_of(text)
            assert value(before, "nginx_up") == 1
            assert "# TYPE nginx_connections_accepted counter\n" in text

            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as load:
                for _ in range(40):  # a new connection each
                    async with load.get(f"{nginx.url}/") as response:
                        assert response.status == 200
            await asyncio.sleep(0.6)  # a few polls
            after = samples_of((await _scrape(scraper, metrics_url))[0])
            for moved in (
                "nginx_connections_accepted",
                "nginx_connections_handled",
                "nginx_http_requests_total",
            ):
                assert value(after, moved) - value(before, moved) >= 40, moved
            assert value(after, "nginx_connections_active") >= 1  # the collector's own keep-alive connection

            nginx.stop()
            await asyncio.sleep(0.6)
            text, seconds = await _scrape(scraper, metrics_url)
            down = samples_of(text)
            assert value(down, "nginx_up") == 0
            assert not any(name.startswith("nginx_connections") for name, _ in down)
            assert seconds < 0.5
            assert value(down, "exporter_poll_errors_total", collector="nginx") >= 1
    finally:
        stop.set()
        await server


@pytest.fixture
def replicas(tmp_path) -> Iterator[tuple[Path, list[subprocess.Popen[bytes]]]]:
    pids = tmp_path / "pids"
    pids.mkdir()
    started = []
    for number in (1, 2):
        pidfile = pids / f"whisperlive-{number}.pid"
        started.append(subprocess.Popen([sys.executable, "-c", IDLE_REPLICA, str(pidfile)]))
        deadline = time.monotonic() + 10
        while not pidfile.exists() or not pidfile.read_text():
            assert time.monotonic() < deadline
            time.sleep(0.02)
    yield pids, started
    for process in started:
        process.kill()
        process.wait()


def test_whole_exporter_process_end_to_end(nginx, replicas, free_port, tmp_path):
    pids, started = replicas
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "exporters",
        "--listen",
        f"127.0.0.1:{port}",
        "--process-pidfile-glob",
        str(pids / "whisperlive-*.pid"),
        "--nginx-status-url",
        nginx.status_url,
        "--gpu",
        "--docker",
        "--docker-url",
        f"unix://{tmp_path}/no-engine.sock",
        "--poll-interval",
        "0.3",
    ]
    exporter = subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        _wait_http(f"http://127.0.0.1:{port}/metrics", 20, exporter)
        time.sleep(1.0)  # a few polls of each source
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    finally:
        exporter.send_signal(signal.SIGTERM)
        _, stderr = exporter.communicate(timeout=10)
    assert exporter.returncode == 0, stderr
    samples = samples_of(text)
    assert value(samples, "exporter_process_up") == 1
    assert value(samples, "nginx_up") == 1
    assert value(samples, "exporter_gpu_up") == 0  # no GPU here
    assert value(samples, "exporter_docker_up") == 0  # no engine here
    for number, process in enumerate(started, start=1):
        labels = dict(
            name=f"whisperlive-{number}",
            id=str(process.pid),
            compose_service="whisperlive",
            replica=str(number),
            gpu="",
        )
        assert value(samples, "container_cpu_usage_seconds_total", **labels) >= 0
        assert value(samples, "container_memory_working_set_bytes", **labels) > 0
        assert value(samples, "container_threads", **labels) >= 1
    assert value(samples, "nginx_connections_accepted") >= 1
    for collector in ("gpu", "docker", "process", "nginx"):
        assert value(samples, "exporter_poll_duration_seconds_count", collector=collector) >= 2
        assert value(samples, "exporter_last_poll_timestamp_seconds", collector=collector) > time.time() - 60
    assert "_created" not in text
    warnings = [line for line in stderr.splitlines() if "WARNING" in line]
    assert len(warnings) == 2, stderr  # gpu and docker: once each, not once per poll
    assert any("exporter_gpu_up is 0" in w for w in warnings)
    assert any("exporter_docker_up is 0" in w for w in warnings)
