"""The processes of a stack: what was started (pid, start time, command line), checking and stopping them.

A pid is only ever signalled while it still is the process that was started: same start time, same
command line (nginx rewrites its title to `nginx: master process ARGV`, which still contains ARGV).
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil


@dataclass(frozen=True)
class ProcessRecord:
    """One started process, as written to stack.json."""

    name: str
    pid: int
    create_time: float
    cmdline: tuple[str, ...]
    port: int
    log_path: str

    @classmethod
    def of(cls, name: str, process: subprocess.Popen[bytes], port: int, log_path: Path) -> ProcessRecord:
        """The record of a process just started."""
        args = process.args
        cmdline = tuple(str(a) for a in args) if isinstance(args, Sequence) else (str(args),)
        create_time = psutil.Process(process.pid).create_time()
        return cls(name, process.pid, create_time, cmdline, port, str(log_path))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProcessRecord:
        """The record from its stack.json form."""
        return cls(**{**data, "cmdline": tuple(data["cmdline"])})

    def to_json(self) -> dict[str, Any]:
        """The stack.json form."""
        return {**asdict(self), "cmdline": list(self.cmdline)}


@dataclass(frozen=True)
class ProcessStatus:
    """What `status` reports for one process."""

    name: str
    pid: int
    running: bool
    port: int
    listening: bool

    def line(self) -> str:
        """One aligned line."""
        state = "running" if self.running else "dead"
        listening = "listening" if self.listening else "not listening"
        return f"{self.name:<12} {state:<8} pid {self.pid:<8} port {self.port:<6} {listening}"


def live_process(record: ProcessRecord) -> psutil.Process | None:
    """The process of `record` if it still runs (see `_running`) and still is what was started."""
    try:
        process = psutil.Process(record.pid)
        if process.create_time() != record.create_time or not _running(process):
            return None
        running = " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.AccessDenied:
        return None  # not ours to check, so not ours to signal
    return process if " ".join(record.cmdline) in running else None


def stop(record: ProcessRecord, grace_s: float) -> None:
    """SIGTERM the process of `record` and its children, SIGKILL whatever is left after `grace_s`."""
    process = live_process(record)
    if process is None:
        return
    try:
        family = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    process.send_signal(signal.SIGTERM)
    alive = _wait_exited(family, grace_s)
    for leftover in alive:
        _kill(leftover)
    _wait_exited(alive, grace_s)


def _wait_exited(family: Sequence[psutil.Process], timeout_s: float) -> list[psutil.Process]:
    """Wait until every process has exited; those still running after `timeout_s`. An exited process that
    is not our child stays a zombie until its reaper gets to it (a container's init: up to a second or
    two); it counts as exited here, as in `live_process`."""
    deadline = time.monotonic() + timeout_s
    while True:
        alive = [p for p in family if _running(p)]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.05)


def _running(process: psutil.Process) -> bool:
    """False once the whole process is gone. A zombie leader whose other threads still tear down (a
    replica unmapping its model) holds its sockets until the last thread exits, so it still runs."""
    try:
        return process.status() != psutil.STATUS_ZOMBIE or process.num_threads() > 1
    except psutil.NoSuchProcess:
        return False


def kill(record: ProcessRecord) -> bool:
    """SIGKILL the process of `record` (not its children) and reap it; False when it was not running."""
    process = live_process(record)
    if process is None:
        return False
    _kill(process)
    psutil.wait_procs([process], timeout=10)
    return True


def listening(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def status(record: ProcessRecord, host: str) -> ProcessStatus:
    """Running and listening, as seen now."""
    running = live_process(record) is not None
    return ProcessStatus(record.name, record.pid, running, record.port, listening(host, record.port))


def port_user(port: int) -> str:
    """Who listens on TCP `port`: "pid N (command line)", or a hint when that cannot be seen.

    Of processes sharing the socket (nginx's master and its workers) the topmost is named.
    """
    try:
        connections = psutil.net_connections(kind="tcp")
    except psutil.AccessDenied:
        return "another process (run as root to see which)"
    pids = [c.pid for c in connections if c.status == psutil.CONN_LISTEN and c.laddr.port == port and c.pid]
    if not pids:
        return "another process"
    owner = pids[0]
    while (parent := _parent(owner)) and _listens(parent, port):
        owner = parent
    return f"pid {owner} ({_short_cmdline(owner)})"


def _parent(pid: int) -> int | None:
    try:
        return psutil.Process(pid).ppid()
    except psutil.Error:
        return None


def _listens(pid: int, port: int) -> bool:
    try:
        sockets = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.Error:
        return False
    return any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in sockets)


def _short_cmdline(pid: int, limit: int = 80) -> str:
    try:
        text = " ".join(" ".join(psutil.Process(pid).cmdline()).split())
    except psutil.Error:
        return "unknown"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _kill(process: psutil.Process) -> None:
    with contextlib.suppress(psutil.NoSuchProcess):
        process.send_signal(signal.SIGKILL)


def reap(pid: int) -> None:
    """Collect the exit status of a dead child of ours, if it is one (a zombie otherwise stays)."""
    with contextlib.suppress(psutil.NoSuchProcess, psutil.TimeoutExpired, psutil.AccessDenied):
        psutil.Process(pid).wait(timeout=0)
