"""The anchor: N clients in the style of a first WhisperLive load script (asyncio + websockets).

Per client: connect, send the options, wait for SERVER_READY, then loop {send chunk; await
asyncio.sleep(chunk)} until `--duration`, reading and discarding what the server sends; then END_OF_AUDIO.
No tracking, no metrics. Each send's slip is measured against the ideal schedule t0 + k·chunk (t0 =
SERVER_READY), which the sleep-after-send loop drifts from: every iteration adds the send and the wake-up
delay to the next due time. Writes `(due time, slip, wake lateness)` rows (wake lateness: how much
later than one chunk after the previous send this one started, the drift's increment) and each client's
t0 to `--out` (.npz).

    python -m bench.naive_client --url ws://127.0.0.1:9300 --num-clients 100 --duration 20 --out naive.npz
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
import uuid
from pathlib import Path

import numpy as np
from websockets.asyncio.client import ClientConnection, connect

from bench.audio import NaiveSchedule, corpus_pcm


async def discard(ws: ClientConnection) -> None:
    """Read and drop every server message."""
    with contextlib.suppress(Exception):
        async for message in ws:
            json.loads(message)


async def client(url: str, audio: bytes, chunk_s: float, until: float, t0s: list[float],
                 slips: list[tuple[float, float, float]]) -> None:
    """One naive client."""
    uid = str(uuid.uuid4())
    async with connect(url, max_size=2**20) as ws:
        await ws.send(json.dumps({"uid": uid, "language": "en", "task": "transcribe", "model": "tiny.en",
                                  "use_vad": False}))
        while "SERVER_READY" not in str(await ws.recv()):
            pass
        reader = asyncio.create_task(discard(ws))
        t0 = time.monotonic()
        t0s.append(t0)
        schedule = NaiveSchedule(audio, chunk_s, t0, slips)
        while (now := time.monotonic()) < until:
            await ws.send(schedule.next_chunk(now))
            await asyncio.sleep(chunk_s)
        await ws.send("END_OF_AUDIO")
        reader.cancel()


async def main_async(args: argparse.Namespace) -> None:
    """Start the clients at `--connect-rate`, stream until the deadline, save the slips."""
    audio = corpus_pcm(args.audio_dir)
    t0s: list[float] = []
    slips: list[tuple[float, float, float]] = []
    started = time.monotonic()
    until = started + args.duration
    tasks = []
    for i in range(args.num_clients):
        tasks.append(asyncio.create_task(client(args.url, audio, args.chunk_s, until, t0s, slips)))
        await asyncio.sleep(max(0.0, started + (i + 1) / args.connect_rate - time.monotonic()))
    results = await asyncio.gather(*tasks, return_exceptions=True)
    failures = sum(isinstance(r, BaseException) for r in results)
    np.savez(args.out, t0s=np.array(t0s), slips=np.array(slips).reshape(-1, 3), failures=failures)


def main() -> None:
    """Parse flags and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--num-clients", type=int, required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--connect-rate", type=float, default=1000.0)
    parser.add_argument("--chunk-s", type=float, default=0.256)
    parser.add_argument("--audio-dir", type=Path, default=Path("test_audio/corpus"))
    parser.add_argument("--out", type=Path, required=True)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
