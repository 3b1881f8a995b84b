"""The two readiness probes against a real tiny.en replica at max-clients - 1 streams: the handshake
probe opens a session (a client slot, counted in whisperlive_connections_*), the replica's own /ready
opens none. Prints the measured latencies and counter movements (the probe decision in docs/TOPOLOGY.md)."""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect

from loadgen.core.protocol import Ready, StreamOptions, decode
from whisperlive.readiness import check_http, probe

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
REPO = Path(__file__).resolve().parents[2]
PROBES = 30
CLI_RUNS = 5
ACTIVE = "whisperlive_connections_active"
TOTAL = "whisperlive_connections_total"
REJECTED = 'whisperlive_connections_rejected_total{reason="full"}'


def scrape(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url, timeout=5) as response:
        lines = response.read().decode().splitlines()
    pairs = (line.rpartition(" ") for line in lines if line and not line.startswith("#"))
    return {name: float(value) for name, _, value in pairs}


class ActiveSampler:
    """Scrapes whisperlive_connections_active as fast as it can; the highest value seen."""

    def __init__(self, url: str) -> None:
        self.url, self.highest, self.samples = url, 0.0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.highest = max(self.highest, scrape(self.url).get(ACTIVE, 0.0))
            self.samples += 1

    def __enter__(self) -> ActiveSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)


async def open_stream(url: str, uid: str) -> ClientConnection:
    ws = await connect(url)
    await ws.send(StreamOptions(uid=uid).to_json())
    assert isinstance(decode(await asyncio.wait_for(ws.recv(), 30), uid), Ready)
    return ws


def cli_seconds(url: str) -> float:
    """Median wall time of `python -m whisperlive ready --url URL` (what a Docker HEALTHCHECK runs)."""
    times = []
    for _ in range(CLI_RUNS):
        started = time.monotonic()
        command = [sys.executable, "-m", "whisperlive", "ready", "--url", url, "--timeout", "10"]
        result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60)
        times.append(time.monotonic() - started)
        assert result.returncode == 0, result.stdout + result.stderr
    return statistics.median(times)


def ms(values: list[float]) -> dict[str, float]:
    return {"median_ms": round(statistics.median(values) * 1000, 2), "max_ms": round(max(values) * 1000, 2)}


async def test_the_http_probe_takes_no_slot_and_the_handshake_probe_does(whisperlive_server):
    server = whisperlive_server
    ready_url = server.metrics_url.removesuffix("/metrics") + "/ready"
    async with AsyncExitStack() as streams:
        for i in range(server.max_clients - 1):
            streams.push_async_callback((await open_stream(server.url, f"load-{i}")).close)
        at_load = scrape(server.metrics_url)
        assert at_load[ACTIVE] == server.max_clients - 1

        with ActiveSampler(server.metrics_url) as http_sampler:
            http = [await asyncio.to_thread(check_http, ready_url, 5) for _ in range(PROBES)]
        after_http = scrape(server.metrics_url)
        with ActiveSampler(server.metrics_url) as ws_sampler:
            ws = [await probe(server.url, 10) for _ in range(PROBES)]
        await asyncio.sleep(1)  # the handshake probes' cleanup
        after_ws = scrape(server.metrics_url)

        # at max-clients: the HTTP probe still says ready; a handshake probe is refused and counted
        streams.push_async_callback((await open_stream(server.url, "load-last")).close)
        full = scrape(server.metrics_url)
        full_http, full_ws = check_http(ready_url, 5), await probe(server.url, 10)
        after_full = scrape(server.metrics_url)
        cli = {"http": cli_seconds(ready_url), "ws": None}
    cli["ws"] = cli_seconds(server.url)  # needs a free slot

    figures = {
        "max_clients": server.max_clients,
        "streams_held": server.max_clients - 1,
        "http_probe": {
            **ms([r.elapsed_s for r in http]),
            "connections_total_delta": after_http[TOTAL] - at_load[TOTAL],
            "highest_active_seen": http_sampler.highest,
            "active_samples": http_sampler.samples,
        },
        "handshake_probe": {
            **ms([r.elapsed_s for r in ws]),
            "connections_total_delta": after_ws[TOTAL] - after_http[TOTAL],
            "highest_active_seen": ws_sampler.highest,
            "active_samples": ws_sampler.samples,
        },
        "at_max_clients": {
            "http": f"{full_http.ok} {full_http.reason}",
            "handshake": f"wait={full_ws.wait} {full_ws.reason}",
            "rejected_full_delta": after_full.get(REJECTED, 0) - full.get(REJECTED, 0),
        },
        "cli_median_s": {k: round(v, 3) for k, v in cli.items() if v is not None},
    }
    print("PROBE FIGURES", json.dumps(figures))
    assert all(r.ok for r in http) and all(r.ok for r in ws)
    assert after_http[TOTAL] == at_load[TOTAL] and after_http[ACTIVE] == at_load[ACTIVE]
    assert http_sampler.highest == server.max_clients - 1 and http_sampler.samples > 0
    assert after_ws[TOTAL] - after_http[TOTAL] == PROBES  # each handshake probe was a session
    assert full_http.ok and full_ws.wait
    assert after_full.get(REJECTED, 0) - full.get(REJECTED, 0) == 1
