"""Benchmark: CPU per received message of three receive loops on a websockets connection (one core).

The session's receiver needs a stall timeout. `wait_for` wraps every `recv()` in a new Task with its
own timer; `asyncio.timeout` reschedules one deadline per message without a Task; `async for` has no
timeout at all (the floor). `bench.sink` (core 1) answers every frame with a segments message; the
client (core 0, uvloop) keeps `--connections` connections each sending 16 KiB frames paced by the
replies, and reports its CPU microseconds per round trip (send + receive + JSON decode).

    python -m bench.recv_path [--connections 200] [--seconds 5] [--out runs/bench/recv_path.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import uvloop
from websockets.asyncio.client import ClientConnection, connect

from bench.procs import GENERATOR_CORE, SERVER_CORE, free_port, pinned, python_module, wait_listening

STYLES = ("wait_for", "timeout", "async_for")
CHUNK = bytes(16384)
STALL_S = 30.0


async def _receive(ws: ClientConnection, style: str, until: float, count: list[int]) -> None:
    await ws.send(CHUNK)
    if style == "async_for":
        async for raw in ws:
            json.loads(raw)
            count[0] += 1
            if time.monotonic() >= until:
                return
            await ws.send(CHUNK)
    elif style == "timeout":
        async with asyncio.timeout(STALL_S) as deadline:
            while time.monotonic() < until:
                json.loads(await ws.recv())
                count[0] += 1
                deadline.reschedule(asyncio.get_running_loop().time() + STALL_S)
                await ws.send(CHUNK)
    else:
        while time.monotonic() < until:
            json.loads(await asyncio.wait_for(ws.recv(), STALL_S))
            count[0] += 1
            await ws.send(CHUNK)


async def _one(url: str, style: str, until: float, count: list[int]) -> None:
    async with connect(url, compression=None, max_size=2**20) as ws:
        await ws.send(json.dumps({"uid": "bench"}))
        await ws.recv()  # SERVER_READY
        await _receive(ws, style, until, count)


async def cpu_per_message(url: str, style: str, connections: int, seconds: float) -> float:
    """Client CPU microseconds per round trip over `seconds`, after a one-second warm-up."""
    count = [0]
    until = time.monotonic() + 1.0 + seconds
    tasks = [asyncio.create_task(_one(url, style, until, count)) for _ in range(connections)]
    await asyncio.sleep(1.0)
    cpu, before = time.process_time(), count[0]
    await asyncio.gather(*tasks)
    return (time.process_time() - cpu) / max(1, count[0] - before) * 1e6


def main() -> int:
    """Compare the styles (each in a pinned child against a fresh sink)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--style", choices=STYLES, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--out", type=Path, default=Path("runs/bench/recv_path.json"))
    args = parser.parse_args()
    if args.style:
        us = uvloop.run(cpu_per_message(args.url, args.style, args.connections, args.seconds))
        print(json.dumps({"us": us}))
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    rows = {}
    for style in STYLES:
        port = free_port()
        sink = python_module("bench.sink", "--port", str(port), "--every", "1", "--stats", "/dev/null")
        log = args.out.parent / f"recv_path-{style}.log"
        with pinned(SERVER_CORE, sink) as server:
            wait_listening(port, server)
            client = python_module("bench.recv_path", "--style", style, "--url", f"ws://127.0.0.1:{port}",
                                   "--connections", str(args.connections), "--seconds", str(args.seconds))
            with pinned(GENERATOR_CORE, client, log) as process:
                process.wait(timeout=args.seconds + 60)
        rows[style] = json.loads(log.read_text().strip().splitlines()[-1])["us"]
        print(f"{style:>10}: {rows[style]:6.1f} us CPU per round trip", flush=True)
    args.out.write_text(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                    "us_per_round_trip": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
