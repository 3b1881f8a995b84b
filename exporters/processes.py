"""Local replicas (found by pid files or a command-line regex) through psutil, named like containers.

Pid files are re-read every poll, so a restarted replica is followed to its new pid; a pid file whose
process is gone, or whose pid now belongs to a process started after the file was written, is skipped.
"""

from __future__ import annotations

import asyncio
import glob
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import psutil
from prometheus_client.metrics_core import Metric

from exporters.containers import ContainerLabels, ContainerUsage, container_families, split_replica
from exporters.poller import SourceUnavailable

PID_REUSE_SLACK_S = 1.0  # process start times from /proc are coarser than file times


class CpuTimes(Protocol):
    """The fields of `psutil.Process.cpu_times()` we add up."""

    @property
    def user(self) -> float: ...
    @property
    def system(self) -> float: ...
    @property
    def children_user(self) -> float: ...
    @property
    def children_system(self) -> float: ...


@dataclass(frozen=True)
class ProcessTarget:
    """A process to watch and the container-like identity it is reported under."""

    pid: int
    name: str
    compose_service: str
    replica: str
    started_by: float | None = None  # the pid file's mtime: a process started later is not ours


def pidfile_target(path: Path, text: str, mtime: float) -> ProcessTarget | None:
    """`whisperlive-1.pid` holding `1234` -> pid 1234 named `whisperlive-1`; None unless a positive pid."""
    try:
        pid = int(text.strip())
    except ValueError:
        return None
    service, replica = split_replica(path.stem)
    return ProcessTarget(pid, path.stem, service, replica, mtime) if pid > 0 else None


def process_usage(target: ProcessTarget, cpu: CpuTimes, rss: int, threads: int,
                  environ: Mapping[str, str]) -> ContainerUsage:
    """One psutil reading as a container reading: CPU of the process and its reaped children, RSS."""
    labels = ContainerLabels(
        name=target.name,
        id=str(target.pid),
        compose_service=target.compose_service,
        replica=target.replica,
        gpu=environ.get("CUDA_VISIBLE_DEVICES", ""),
    )
    seconds = cpu.user + cpu.system + cpu.children_user + cpu.children_system
    return ContainerUsage(labels, cpu_seconds=seconds, working_set_bytes=float(rss), threads=float(threads))


def _read_pidfile(path: Path) -> ProcessTarget | None:
    try:
        return pidfile_target(path, path.read_text(), path.stat().st_mtime)
    except OSError:  # removed between the glob and the read
        return None


def _environ(process: psutil.Process) -> dict[str, str]:
    try:
        return dict(process.environ())
    except psutil.AccessDenied:
        return {}


def read_process(target: ProcessTarget) -> ContainerUsage | None:
    """The target's usage now; None when its process is gone, a zombie, or not the one the file named."""
    try:
        process = psutil.Process(target.pid)
        with process.oneshot():
            started = process.create_time()
            if target.started_by is not None and started > target.started_by + PID_REUSE_SLACK_S:
                return None
            return process_usage(target, process.cpu_times(), process.memory_info().rss,
                                 process.num_threads(), _environ(process))
    except (psutil.NoSuchProcess, psutil.AccessDenied):  # ZombieProcess is a NoSuchProcess
        return None


class ProcessSource:
    """Processes named by pid files (`name` = file stem) and/or whose command line matches a regex."""

    name = "process"
    up_metric = "exporter_process_up"
    up_help = "1 when at least one watched process was read in the last poll."

    def __init__(self, pidfile_globs: Sequence[str] = (), match: re.Pattern[str] | None = None) -> None:
        self._globs = list(pidfile_globs)
        self._match = match

    async def poll(self) -> list[ContainerUsage]:
        """Usage of every watched process that runs."""
        return await asyncio.to_thread(self._read)

    def families(self, snapshot: list[ContainerUsage]) -> Iterable[Metric]:
        """The `container_*` families."""
        return container_families(snapshot)

    async def close(self) -> None:
        """Nothing to release."""

    def _targets(self) -> list[ProcessTarget]:
        paths = sorted({Path(p) for pattern in self._globs for p in glob.glob(pattern)})
        targets = [t for t in map(_read_pidfile, paths) if t is not None]
        if self._match is not None:
            targets += self._matching(self._match)
        unique: dict[int, ProcessTarget] = {}
        for target in targets:
            unique.setdefault(target.pid, target)  # a pid found twice keeps its first (pid file) name
        return list(unique.values())

    @staticmethod
    def _matching(pattern: re.Pattern[str]) -> list[ProcessTarget]:
        found = []
        for process in psutil.process_iter(["pid", "name", "cmdline"]):
            info = process.info
            if info["pid"] != os.getpid() and pattern.search(" ".join(info["cmdline"] or ())):
                found.append(ProcessTarget(info["pid"], f"{info['name']}-{info['pid']}", info["name"], ""))
        return found

    def _read(self) -> list[ContainerUsage]:
        usages = [u for u in map(read_process, self._targets()) if u is not None]
        if not usages:
            raise SourceUnavailable("none of the watched processes is running")
        return usages
