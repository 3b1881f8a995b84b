"""The local scaled stack on real parts: 3 tiny.en replicas behind Debian's nginx, scraped by Prometheus,
alerts to Alertmanager; and the same stack with the simulator backend, through the CLI.

The tests share the session's stack (`local_stack`); the last one stops it and checks that nothing of it
is left. Everything listens on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import psutil
import pytest
from websockets.asyncio.client import connect

from loadgen.core.protocol import (
    END_OF_AUDIO,
    UPSTREAM_HEADER,
    Ready,
    ServerError,
    StreamOptions,
    Wait,
    decode,
)
from loadgen.live.session import serving_replica
from stack import procs
from stack.local import LocalStack
from stack.ports import free_base_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
HANDSHAKES = 6


async def handshake(url: str) -> str:
    """One real stream start through the balancer (options, SERVER_READY, END_OF_AUDIO); the X-Upstream."""
    uid = f"stack-test-{uuid.uuid4().hex[:8]}"
    async with connect(url, open_timeout=10, close_timeout=2) as ws:
        assert ws.response is not None
        header = ws.response.headers.get(UPSTREAM_HEADER)
        await ws.send(StreamOptions(uid=uid).to_json())
        async with asyncio.timeout(30):
            while not isinstance(event := decode(await ws.recv(), uid), Ready):
                assert not isinstance(event, (Wait, ServerError)), event
        await ws.send(END_OF_AUDIO)
    assert header, "no X-Upstream header on the upgrade"
    return header


def prometheus_get(stack: LocalStack, path: str) -> dict:
    with urllib.request.urlopen(f"{stack.prometheus_url}{path}", timeout=5) as response:
        return json.loads(response.read())


def run_cli(*args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO / "scripts" / "local_stack.sh"), *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def test_the_balancer_passes_the_readiness_handshake(local_stack):
    result = subprocess.run(
        [sys.executable, "-m", "whisperlive", "ready", "--url", local_stack.balancer_url, "--timeout", "30"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"ready: {local_stack.balancer_url}: SERVER_READY")


async def test_each_handshake_through_nginx_names_the_replica_that_serves_it(local_stack):
    headers = [await handshake(local_stack.balancer_url) for _ in range(HANDSHAKES)]
    assert all(header in local_stack.replica_addresses for header in headers), headers  # no retry needed
    assert len(set(headers)) >= 2, f"least_conn sent every stream to one replica: {headers}"


def test_prometheus_scrapes_every_replica_the_exporters_and_itself(local_stack):
    expected = {(address, "whisperlive") for address in local_stack.replica_addresses}
    expected |= {(None, "prometheus"), (None, "exporters")}
    deadline = time.monotonic() + 30
    while True:
        targets = prometheus_get(local_stack, "/api/v1/targets?state=active")["data"]["activeTargets"]
        # the loadgen job is up only while a `loadgen run --metrics-port` runs (test_scaled_load covers it)
        targets = [t for t in targets if t["labels"]["job"] != "loadgen"]
        seen = {(t["labels"].get("replica"), t["labels"]["job"]) for t in targets}
        if seen == expected and all(t["health"] == "up" for t in targets):
            break
        assert time.monotonic() < deadline, f"targets not all up after 30 s: {targets}"
        time.sleep(1)
    result = prometheus_get(local_stack, "/api/v1/query?query=up")["data"]["result"]
    result = [sample for sample in result if sample["metric"]["job"] != "loadgen"]
    assert len(result) == len(expected) and all(sample["value"][1] == "1" for sample in result)


async def test_handshakes_fail_over_when_a_replica_is_killed(local_stack):
    killed = local_stack.kill_replica(2)
    survivors = set(local_stack.replica_addresses) - {killed}
    try:
        headers = [await handshake(local_stack.balancer_url) for _ in range(HANDSHAKES)]
    finally:
        await asyncio.to_thread(local_stack.restart_replica, 2)  # synchronous: it runs its own loop
    assert {serving_replica(header) for header in headers} <= survivors, headers
    retried = [header for header in headers if killed in header]
    assert retried, f"least_conn never picked the dead replica: {headers}"  # so the retry path ran
    assert all(header.startswith(f"{killed}, ") for header in retried), retried  # tried, then passed on


def test_ensure_up_restarts_a_killed_replica(shared_local_stack):
    shared_local_stack.kill_replica(1)
    assert [s.name for s in shared_local_stack.status() if not s.running] == ["whisperlive-1"]
    shared_local_stack.ensure_up()
    assert all(s.running and s.listening for s in shared_local_stack.status())


def test_status_reports_every_process_running_and_listening(local_stack):
    result = run_cli("status", "--run-dir", str(local_stack.run_dir), timeout_s=30)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [
        "whisperlive-1",
        "whisperlive-2",
        "whisperlive-3",
        "nginx",
        "exporters",
        "alertmanager",
        "prometheus",
    ]
    assert all(" running " in line and line.endswith(" listening") for line in lines)


def test_prometheus_sends_alerts_to_the_stacks_alertmanager(local_stack):
    deadline = time.monotonic() + 30
    while not (found := prometheus_get(local_stack, "/api/v1/alertmanagers")["data"]["activeAlertmanagers"]):
        assert time.monotonic() < deadline, "Prometheus found no Alertmanager within 30 s"
        time.sleep(1)
    assert [a["url"] for a in found] == [f"{local_stack.alertmanager_url}/api/v2/alerts"]
    with urllib.request.urlopen(f"{local_stack.alertmanager_url}/api/v2/status", timeout=5) as response:
        status = json.loads(response.read())
    assert status["cluster"]["status"] == "disabled"  # no gossip port on 0.0.0.0


def test_the_simulator_backend_runs_the_same_stack_without_a_model(tmp_path, generated_corpus):
    run_dir = str(tmp_path / "sim")
    base = free_base_port(2)
    up = run_cli(
        *("up", "--backend", "simulator", "--replicas", "2", "--base-port", str(base), "--run-dir", run_dir),
        *("--audio-dir", str(generated_corpus), "--capacity", "1", "--base-lag", "0.1"),
        timeout_s=60,
    )
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        state = json.loads((tmp_path / "sim" / "stack.json").read_text())
        assert state["backend"] == "simulator"
        command = state["processes"]["whisperlive-1"]["cmdline"]
        assert command[1:4] == ["-m", "loadgen", "simulate"]
        assert command[command.index("--base-lag") + 1] == "0.1" and "--capacity" in command
        ready = subprocess.run(
            [sys.executable, "-m", "whisperlive", "ready", "--url", state["balancer_url"], "--timeout", "10"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert ready.returncode == 0, ready.stdout + ready.stderr  # through nginx, as with WhisperLive
    finally:
        down = run_cli("down", "--run-dir", run_dir)
    assert "down: 6 process(es) stopped" in down.stdout, down.stdout + down.stderr


def test_the_cli_refuses_ports_in_use_and_manages_its_own_stack(local_stack, tmp_path):
    port = local_stack.settings.ports.balancer
    busy = run_cli("up", "--replicas", "1", "--base-port", str(port), "--run-dir", str(tmp_path / "busy"))
    assert busy.returncode == 1
    nginx = local_stack.processes["nginx"].pid
    assert busy.stderr.startswith(f"stack: port {port} (nginx balancer) is in use by pid {nginx} (nginx: ")
    assert len(busy.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "busy" / "stack.json").exists()  # refused before anything was written

    run_dir = str(tmp_path / "own")
    base = str(free_base_port(1))
    up = run_cli("up", "--replicas", "1", "--omp-threads", "1", "--base-port", base, "--run-dir", run_dir)
    assert up.returncode == 0, up.stdout + up.stderr
    assert run_cli("status", "--run-dir", run_dir).returncode == 0
    down = run_cli("down", "--run-dir", run_dir)
    assert down.returncode == 0 and "down: 5 process(es) stopped" in down.stdout, down.stdout + down.stderr
    status = run_cli("status", "--run-dir", run_dir)
    assert status.returncode == 1 and status.stdout.count(" dead ") == 5


def test_down_stops_every_process_and_frees_every_port(local_stack):
    family = [psutil.Process(record.pid) for record in local_stack.processes.values()]
    family += psutil.Process(local_stack.processes["nginx"].pid).children(recursive=True)  # nginx workers
    ports = local_stack.settings.ports.used(local_stack.settings.replicas)

    stopped = local_stack.down()

    assert stopped == [
        "prometheus",
        "alertmanager",
        "exporters",
        "nginx",
        "whisperlive-3",
        "whisperlive-2",
        "whisperlive-1",
    ]
    assert not [p.pid for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not [port for port in ports if procs.listening(local_stack.host, port)]
    assert not list((local_stack.run_dir / "pids").iterdir())
    assert not any(status.running for status in local_stack.status())
