"""Benchmark: raw WebSocket send throughput on one core, websockets vs picows (and uvloop vs asyncio).

Each client library, pinned to core 0, keeps `--connections` connections to `bench.sink` (core 1, never
answering) busy for `--seconds`: every connection sends one 256 ms float32 chunk (16 KiB), yields to the
loop, and sends again (so each send is its own wake-up, as when paced), with the library's flow control.
Frames per second of one core is the ceiling of a generator built on that library; x 0.256 it is the
number of real-time streams that ceiling would allow with nothing else to do.

    python -m bench.ws_send [--connections 200] [--seconds 4] [--repeats 3] [--out runs/bench/ws_send.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import numpy as np
import uvloop
from picows import WSListener, WSMsgType, WSTransport, ws_connect
from websockets.asyncio.client import connect

from bench.procs import (
    GENERATOR_CORE,
    SERVER_CORE,
    free_port,
    pinned,
    python_module,
    wait_listening,
)

CHUNK = bytes(16384)  # 256 ms of float32 16 kHz audio
CLIENTS = ("websockets+asyncio", "websockets+uvloop", "picows+uvloop")


async def websockets_sender(url: str, until: float, sent: list[int]) -> None:
    """Send chunks on one websockets connection until the deadline."""
    async with connect(url, compression=None, max_size=2**20) as ws:
        while time.monotonic() < until:
            await ws.send(CHUNK)
            sent[0] += 1
            await asyncio.sleep(0)


class _Writable(WSListener):
    """picows listener that exposes the transport's flow control as an event."""

    def __init__(self) -> None:
        self.writable = asyncio.Event()
        self.writable.set()

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()


async def picows_sender(url: str, until: float, sent: list[int]) -> None:
    """Send chunks on one picows connection until the deadline."""
    transport: WSTransport
    transport, listener = await ws_connect(_Writable, url)
    assert isinstance(listener, _Writable)
    while time.monotonic() < until:
        await listener.writable.wait()
        transport.send(WSMsgType.BINARY, CHUNK)
        sent[0] += 1
        await asyncio.sleep(0)
    transport.disconnect()


async def send_for(library: str, url: str, connections: int, seconds: float) -> float:
    """Frames per second over `seconds` with `connections` senders (connections opened first)."""
    sender = picows_sender if library.startswith("picows") else websockets_sender
    sent = [0]
    until = time.monotonic() + seconds + 1.0  # the first second connects and warms up
    tasks = [asyncio.create_task(sender(url, until, sent)) for _ in range(connections)]
    await asyncio.sleep(1.0)
    start, before = time.monotonic(), sent[0]
    await asyncio.gather(*tasks)
    return (sent[0] - before) / (time.monotonic() - start)


def client_main(args: argparse.Namespace) -> None:
    """The pinned child: one library, print frames per second."""
    run = uvloop.run if args.client.endswith("uvloop") else asyncio.run
    rate = run(send_for(args.client, args.url, args.connections, args.seconds))
    print(json.dumps({"frames_per_s": rate}))


def compare(args: argparse.Namespace) -> dict[str, object]:
    """Each library `--repeats` times, interleaved, each against a fresh sink; the median frames/s."""
    runs: dict[str, list[float]] = {library: [] for library in CLIENTS}
    for _ in range(args.repeats):
        for library in CLIENTS:
            runs[library].append(send_once(args, library))
    rows: dict[str, object] = {}
    for library, rates in runs.items():
        rate = float(np.median(rates))
        rows[library] = {"frames_per_s": rate, "stream_ceiling": rate * 0.256, "runs": rates}
        print(f"{library:>20}: {rate:9.0f} frames/s median ({rate * 0.256:6.0f} streams' worth); runs "
              + ", ".join(f"{r:.0f}" for r in rates), flush=True)
    return rows


def send_once(args: argparse.Namespace, library: str) -> float:
    """One library for `--seconds` against a fresh sink on the other core."""
    port = free_port()
    stats = args.out.parent / f"ws_send-sink-{port}.json"
    sink_command = python_module("bench.sink", "--port", str(port), "--every", "0", "--stats", str(stats))
    log = args.out.parent / f"ws_send-{library}.log"
    with pinned(SERVER_CORE, sink_command) as sink:
        wait_listening(port, sink)
        command = python_module("bench.ws_send", "--client", library, "--url", f"ws://127.0.0.1:{port}",
                                "--connections", str(args.connections), "--seconds", str(args.seconds))
        with pinned(GENERATOR_CORE, command, log) as client:
            client.wait(timeout=args.seconds + 60)
    stats.unlink(missing_ok=True)
    return float(json.loads(log.read_text().strip().splitlines()[-1])["frames_per_s"])


def main() -> int:
    """Compare, or (with --client) be one pinned sender."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client", choices=CLIENTS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("runs/bench/ws_send.json"))
    args = parser.parse_args()
    if args.client:
        client_main(args)
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    rows = compare(args)
    args.out.write_text(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                    "connections": args.connections, "seconds": args.seconds,
                                    "repeats": args.repeats,
                                    "results": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
