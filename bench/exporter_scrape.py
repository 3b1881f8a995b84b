"""Benchmark (not a test): scrape latency and CPU of `python -m exporters` watching N local processes.

Starts N dummy replicas with pid files (half idle, half busy for a slice of every 50 ms), the exporter
watching them, then measures the exporter's CPU while it only polls, and the latency of sequential
scrapes over one keep-alive connection (as Prometheus scrapes) with the exporter's CPU meanwhile.

    python bench/exporter_scrape.py [--processes 16] [--scrapes 200] [--poll-interval 2] [--idle-s 10]
"""

from __future__ import annotations

import argparse
import http.client
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import psutil

from loadgen.core.protocol import REPLICA_PREFIX, replica_name

REPO = Path(__file__).resolve().parents[1]
# argv: pid file, busy (0/1). Busy: spin 5 ms of every 50 ms (10% of a core).
DUMMY = """
import os, sys, time
open(sys.argv[1] + ".tmp", "w").write(str(os.getpid())); os.replace(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    if sys.argv[2] == "1":
        end = time.perf_counter() + 0.005
        while time.perf_counter() < end:
            pass
    time.sleep(0.045)
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def dummies(directory: Path, count: int) -> Iterator[None]:
    """`count` dummy replicas writing `whisperlive-<i>.pid` in `directory`; killed on exit."""
    started = [subprocess.Popen([sys.executable, "-c", DUMMY, str(directory / f"{replica_name(i)}.pid"),
                                 str(i % 2)]) for i in range(1, count + 1)]
    try:
        while len(list(directory.glob(f"{REPLICA_PREFIX}-*.pid"))) < count:
            time.sleep(0.05)
        yield
    finally:
        for process in started:
            process.kill()
            process.wait()


@contextmanager
def exporter(command: list[str]) -> Iterator[psutil.Process]:
    """The exporter process, stopped with SIGTERM on exit."""
    process = subprocess.Popen(command, cwd=REPO, stderr=subprocess.DEVNULL)
    try:
        yield psutil.Process(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)


def scrape(connection: http.client.HTTPConnection) -> bytes:
    """One GET /metrics on a kept-alive connection."""
    connection.request("GET", "/metrics")
    response = connection.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"/metrics answered {response.status}")
    return body


def wait_ready(port: int, processes: int) -> None:
    """Until /metrics reports every dummy."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            body = scrape(connection).decode()
            if body.count("container_threads{") >= processes:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the exporter did not report every process in 30 s")


def cpu_seconds(process: psutil.Process) -> float:
    """User + system CPU of the exporter so far."""
    times = process.cpu_times()
    return float(times.user + times.system)


def main() -> int:
    """Run once and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=16)
    parser.add_argument("--scrapes", type=int, default=200)
    parser.add_argument("--poll-interval", type=float, default=2.0)
    parser.add_argument("--idle-s", type=float, default=10.0, help="seconds of polling-only CPU measurement")
    args = parser.parse_args()
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="exporter-bench-") as tmp, dummies(Path(tmp), args.processes):
        command = [sys.executable, "-m", "exporters", "--listen", f"127.0.0.1:{port}",
                   "--process-pidfile-glob", f"{tmp}/whisperlive-*.pid",
                   "--poll-interval", str(args.poll_interval)]
        with exporter(command) as process:
            wait_ready(port, args.processes)
            before, started = cpu_seconds(process), time.perf_counter()
            time.sleep(args.idle_s)
            idle_cpu = (cpu_seconds(process) - before) / (time.perf_counter() - started)

            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            latencies = []
            before, started = cpu_seconds(process), time.perf_counter()
            for _ in range(args.scrapes):
                begin = time.perf_counter()
                body = scrape(connection)
                latencies.append(time.perf_counter() - begin)
            wall = time.perf_counter() - started
            scrape_cpu = cpu_seconds(process) - before
            rss = process.memory_info().rss
    ms = np.array(latencies) * 1000
    samples = sum(1 for line in body.decode().splitlines() if line and not line.startswith("#"))
    print("command: " + shlex.join(command))
    print(f"{args.processes} watched processes, {args.scrapes} sequential scrapes, keep-alive, "
          f"poll interval {args.poll_interval:g} s, {psutil.cpu_count()} CPUs")
    rows = [
        ("scrape p50", f"{np.percentile(ms, 50):.2f} ms"),
        ("scrape p99", f"{np.percentile(ms, 99):.2f} ms"),
        ("scrape max", f"{ms.max():.2f} ms"),
        ("body", f"{len(body)} bytes, {samples} samples"),
        ("CPU per scrape", f"{scrape_cpu / args.scrapes * 1000:.2f} ms"),
        ("CPU while scraped back to back", f"{scrape_cpu / wall * 100:.1f} % of a core"),
        (f"CPU polling only ({args.idle_s:g} s)", f"{idle_cpu * 100:.2f} % of a core"),
        ("RSS", f"{rss / 2**20:.1f} MiB"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
