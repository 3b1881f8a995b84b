"""Edges shared by the benchmarks: pinned child processes, ports, CPU and memory meters."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
GENERATOR_CORE, SERVER_CORE = 0, 1


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def python_module(module: str, *args: str) -> list[str]:
    """`python -m module args...` with this interpreter."""
    return [sys.executable, "-m", module, *args]


@contextmanager
def pinned(core: int, command: Sequence[str], log: Path | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """`command` pinned to one CPU core with taskset; SIGTERM (then SIGKILL) on exit."""
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    process = subprocess.Popen(["taskset", "-c", str(core), *command], cwd=REPO, stdout=out,
                               stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if log:
            out.close()  # type: ignore[union-attr]


def wait_listening(port: int, process: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    """Until something accepts on 127.0.0.1:port; fails if `process` exits first."""
    deadline = time.monotonic() + timeout_s
    while True:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"nothing listens on port {port} (started: {process.args!r})")
        time.sleep(0.1)


@dataclass
class CpuMeter:
    """CPU time of one process (children included) over an interval, as a fraction of one core."""

    process: psutil.Process
    _cpu: float = 0.0
    _at: float = 0.0

    def start(self) -> None:
        """Begin the interval."""
        self._cpu, self._at = self._total(), time.monotonic()

    def fraction(self) -> float:
        """CPU seconds per wall second since `start`."""
        return (self._total() - self._cpu) / max(1e-9, time.monotonic() - self._at)

    def _total(self) -> float:
        try:
            return sum(_cpu_seconds(p) for p in [self.process, *self.process.children(recursive=True)])
        except psutil.NoSuchProcess:
            return self._cpu


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def rss_bytes(pid: int) -> int:
    """Resident memory of a process and its children (taskset execs, so usually just itself)."""
    process = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])


def load_average() -> str:
    """The 1/5/15-minute load averages, for the record."""
    return " ".join(f"{v:.2f}" for v in os.getloadavg())
