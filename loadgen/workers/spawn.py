"""`--workers K`: K load-generator processes that split the clients, behind one command.

A parent process starts K workers (multiprocessing, spawn: each its own interpreter, event loop and
core), each given a copy of the parent's parsed flags with its own metrics port, its share of the connect
rate and a log file. For `ramp`/`soak` the workers are `loadgen serve`s on 127.0.0.1 that
loadgen.workers.pool drives as one; for `run` they are `loadgen run`s whose session files
loadgen.workers.run_parts merges. Either way the parent serves one `/metrics`, the sum of the workers'
(loadgen.workers.metrics_aggregate). This module is the processes' lifecycle.
"""

from __future__ import annotations

import argparse
import multiprocessing
import signal
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from rich.console import Console

from loadgen.core.errors import EXIT_INTERRUPTED, UserError
from loadgen.core.records import Shard
from loadgen.workers.metrics_aggregate import WorkerMetricsCollector

LOCALHOST = "127.0.0.1"
STOP_TIMEOUT_S = 30.0  # a stopped worker retires its clients and writes their sessions first


def free_ports(count: int, host: str = LOCALHOST) -> list[int]:
    """`count` distinct TCP ports nothing listens on now (the OS's choice; held together while chosen)."""
    with ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind((host, 0))
        return [int(probe.getsockname()[1]) for probe in probes]


def worker_args(args: argparse.Namespace, count: int, **fields: Any) -> argparse.Namespace:
    """A worker's copy of the parent's flags: its share of the connect rate, metrics on a port of its own
    on 127.0.0.1, no further workers, and `fields` on top (pure)."""
    copy = argparse.Namespace(**vars(args))
    copy.connect_rate = args.connect_rate / count
    copy.metrics_host, copy.metrics_port = LOCALHOST, fields.pop("metrics_port")
    copy.workers = 1
    for name, value in fields.items():
        setattr(copy, name, value)
    return copy


def own_workload(args: argparse.Namespace, index: int) -> dict[str, Any]:
    """Worker `index`'s share of the workload (pure): its share of the idle clients and of the concurrency
    cap, split like the clients, and a seed of its own (the parent's + index) so the K workers' arrival
    times, session lengths and pauses are K independent draws, not one draw K times over."""
    shard = Shard(index, args.workers)
    fields: dict[str, Any] = {"seed": getattr(args, "seed", 0) + index}
    for name in ("idle_clients", "max_concurrency"):
        total = getattr(args, name, None)
        if total is not None:
            fields[name] = shard.share(total)
    return fields


Command = Callable[[argparse.Namespace, Console], int]


def _worker_main(command: Command, args: argparse.Namespace, log: str) -> None:
    """A worker process: run `command` with its console written to `log`; exit with its code."""
    with open(log, "a", encoding="utf-8") as out:
        console = Console(file=out, width=120)
        try:
            code = command(args, console)
        except UserError as exc:
            out.write(f"error: {exc}\n")
            code = exc.exit_code
        except KeyboardInterrupt:
            code = EXIT_INTERRUPTED
    raise SystemExit(code)


@dataclass
class Worker:
    """One started worker process."""

    index: int
    process: BaseProcess
    metrics_url: str
    log: Path

    def log_tail(self, lines: int = 5) -> str:
        """The last lines of its log, for an error message."""
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return " | ".join(text.strip().splitlines()[-lines:])


def start_workers(
    command: Command,
    args: argparse.Namespace,
    logs: Path,
    fields: Sequence[dict[str, Any]],
) -> list[Worker]:
    """Start `args.workers` processes running `command`; worker i gets `fields[i]` on top of its copy of
    the flags, and logs to `logs`/worker-i.log."""
    context = multiprocessing.get_context("spawn")
    logs.mkdir(parents=True, exist_ok=True)
    workers = []
    count = args.workers
    for index, (metrics_port, own) in enumerate(zip(free_ports(count), fields, strict=True)):
        copy = worker_args(args, count, metrics_port=metrics_port, **own_workload(args, index), **own)
        log = logs / f"worker-{index}.log"
        process = context.Process(
            target=_worker_main, args=(command, copy, str(log)), name=f"loadgen-worker-{index}"
        )
        process.start()
        workers.append(Worker(index, process, f"http://{LOCALHOST}:{metrics_port}/metrics", log))
    return workers


def stop_workers(workers: Sequence[Worker], timeout_s: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM to every worker still running (it retires its clients and writes their sessions), then
    wait at most `timeout_s` in all; kill what is left."""
    for worker in workers:
        if worker.process.is_alive():
            worker.process.terminate()
    deadline = time.monotonic() + timeout_s
    for worker in workers:
        worker.process.join(max(0.0, deadline - time.monotonic()))
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()


def join_workers(workers: Sequence[Worker]) -> None:
    """Wait until every worker has exited."""
    for worker in workers:
        worker.process.join()


def failed_workers(workers: Sequence[Worker], ok_codes: Sequence[int] = (0,)) -> list[str]:
    """One line per worker that exited with a code outside `ok_codes` (or was killed)."""
    return [
        f"worker {w.index} exited with code {w.process.exitcode}: {w.log_tail() or 'no output'} ({w.log})"
        for w in workers
        if w.process.exitcode is not None and w.process.exitcode not in ok_codes
    ]


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM stops the parent like Ctrl-C (its workers are then stopped and their sessions kept)."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class WorkerMetrics:
    """The parent's `/metrics`: the workers' metrics summed at every scrape."""

    def __init__(self, workers: Sequence[Worker]) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(WorkerMetricsCollector([w.metrics_url for w in workers]))

    def serve(self, port: int, host: str = LOCALHOST) -> None:
        """Expose `/metrics` on host:port from a background thread."""
        start_http_server(port, addr=host, registry=self.registry)


