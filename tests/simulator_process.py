"""`loadgen simulate` (and other loadgen servers) as subprocesses on 127.0.0.1, for integration tests."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

# `loadgen ramp`/`soak` flags for short tests: continuous sessions, 1 s warm-up, 2 s holds, fast connects
FAST_RAMP = [
    "--mode",
    "continuous",
    "--warmup",
    "1",
    "--hold",
    "2",
    "--connect-rate",
    "20",
    "--settle",
    "0.5",
    "--no-live",
]


def ramp_command(url: str, audio_dir: Path, run_dir: Path, *flags: str) -> list[str]:
    """`loadgen ramp` arguments against `url`, streaming `audio_dir`, writing `run_dir`."""
    return ["ramp", "--url", url, "--audio-dir", str(audio_dir), "--run-dir", str(run_dir), *flags]


def listening(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:port."""
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def loadgen_process(
    args: Sequence[str], port: int, log: Path, start_s: float = 20.0
) -> Iterator[subprocess.Popen]:
    """`python -m loadgen ARGS` until it listens on `port`; SIGTERM (then SIGKILL) at the end."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "loadgen", *args], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + start_s
        while not listening(port):
            assert process.poll() is None, f"loadgen {args[0]} exited: {log.read_text()}"
            assert time.monotonic() < deadline, (
                f"loadgen {args[0]} did not listen on {port}: {log.read_text()}"
            )
            time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def simulator(
    corpus: Path,
    port: int,
    log: Path,
    capacity: int,
    base_lag: float = 0.1,
    per_stream_lag: float = 1.0,
    *extra: str,
) -> Iterator[str]:
    """A simulator whose lag is `base_lag` up to `capacity` streams and jumps by `per_stream_lag` per stream
    beyond: a steep, deterministic knee (`extra`: more `loadgen simulate` flags). Yields its ws:// URL."""
    args = [
        "simulate",
        "--port",
        str(port),
        "--audio-dir",
        str(corpus),
        "--capacity",
        str(capacity),
        "--base-lag",
        str(base_lag),
        "--per-stream-lag",
        str(per_stream_lag),
        *extra,
    ]
    with loadgen_process(args, port, log):
        yield f"ws://127.0.0.1:{port}"
