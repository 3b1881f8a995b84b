"""The process collector against real processes found through real pid files (or their command line)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporters.poller import SourceUnavailable
from exporters.processes import ProcessSource

pytestmark = pytest.mark.integration

# Writes its pid file (atomically), then does what argv[2] says.
CHILD = """
import os, subprocess, sys, time
pidfile, mode = sys.argv[1], sys.argv[2]
if mode == "parent":  # burn CPU in a child, reap it, then idle
    subprocess.run([sys.executable, "-c", "import time\\nwhile time.process_time() < 0.6: pass"])
open(pidfile + ".tmp", "w").write(str(os.getpid()))
os.replace(pidfile + ".tmp", pidfile)
if mode == "busy":
    while True:
        pass
time.sleep(120)
"""


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        process.kill()
        process.wait()


def start(started: list, pidfile: Path, mode: str, *extra: str) -> subprocess.Popen[bytes]:
    """Start a child that writes `pidfile`; return once the file is there."""
    process = subprocess.Popen([sys.executable, "-c", CHILD, str(pidfile), mode, *extra])
    started.append(process)
    deadline = time.monotonic() + 10
    while not pidfile.exists():
        assert time.monotonic() < deadline and process.poll() is None, "child did not write its pid file"
        time.sleep(0.02)
    return process


def by_name(usages) -> dict:
    return {u.labels.name: u for u in usages}


async def test_cpu_rises_between_polls_and_memory_is_read(tmp_path, processes):
    busy = start(processes, tmp_path / "whisperlive-1.pid", "busy")
    source = ProcessSource([str(tmp_path / "whisperlive-*.pid")])
    first = by_name(await source.poll())["whisperlive-1"]
    time.sleep(0.5)
    second = by_name(await source.poll())["whisperlive-1"]
    assert second.cpu_seconds - first.cpu_seconds > 0.05
    assert second.working_set_bytes > 1_000_000 and second.threads >= 1
    assert second.labels.id == str(busy.pid)
    assert (second.labels.compose_service, second.labels.replica) == ("whisperlive", "1")


async def test_cpu_of_reaped_children_counts(tmp_path, processes):
    start(processes, tmp_path / "whisperlive-1.pid", "parent")
    usage = by_name(await ProcessSource([str(tmp_path / "*.pid")]).poll())["whisperlive-1"]
    assert usage.cpu_seconds >= 0.5  # the parent itself only waited


async def test_dead_or_unreadable_pid_files_are_skipped(tmp_path, processes):
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    (tmp_path / "whisperlive-2.pid").write_text(finished.stdout.decode())
    (tmp_path / "whisperlive-3.pid").write_text("not a pid")
    source = ProcessSource([str(tmp_path / "*.pid")])
    with pytest.raises(SourceUnavailable):
        await source.poll()  # nothing runs: the collector reports itself down, nothing crashes
    start(processes, tmp_path / "whisperlive-1.pid", "idle")
    assert set(by_name(await source.poll())) == {"whisperlive-1"}


async def test_a_restarted_replica_is_followed_to_its_new_pid(tmp_path, processes):
    pidfile = tmp_path / "whisperlive-1.pid"
    old = start(processes, pidfile, "idle")
    source = ProcessSource([str(tmp_path / "*.pid")])
    assert by_name(await source.poll())["whisperlive-1"].labels.id == str(old.pid)
    old.kill()
    old.wait()
    pidfile.unlink()
    new = start(processes, pidfile, "idle")
    assert by_name(await source.poll())["whisperlive-1"].labels.id == str(new.pid)


async def test_a_pid_file_older_than_its_process_is_not_followed(tmp_path, processes):
    """A stale file whose pid now belongs to a process started after it was written (pid reuse)."""
    pidfile = tmp_path / "whisperlive-1.pid"
    start(processes, pidfile, "idle")
    an_hour_ago = time.time() - 3600
    os.utime(pidfile, (an_hour_ago, an_hour_ago))
    with pytest.raises(SourceUnavailable):
        await ProcessSource([str(pidfile)]).poll()


async def test_processes_found_by_command_line(tmp_path, processes):
    marker = f"replica-{uuid.uuid4().hex}"
    child = start(processes, tmp_path / "ignored.pid", "idle", marker)
    usages = await ProcessSource(match=re.compile(re.escape(marker))).poll()
    assert [u.labels.id for u in usages] == [str(child.pid)]
    assert usages[0].labels.name == f"{usages[0].labels.compose_service}-{child.pid}"
