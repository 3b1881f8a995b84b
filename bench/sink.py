"""A minimal WhisperLive-protocol sink for throughput benchmarks (picows on uvloop, one core).

It answers the options message with SERVER_READY, reads and discards audio, and every `--every` audio
frames sends one segments message covering the audio received so far (at once, or `--lag` seconds
later), so a client's tracker has something to measure. It is there because the simulator (websockets,
a fingerprint and a timer task per frame) costs more CPU per stream than the generators under test: a
benchmark of generators must not be bounded by its sink. Its own lateness is measured by a 10 ms timer
and written to `--stats` (JSON) at SIGTERM, with its CPU seconds and, with `--lag`, how late the delayed
answers went out (so an accuracy benchmark can tell its lateness from the generator's).

    python -m bench.sink --port 9300 --stats sink.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import signal
import time
from pathlib import Path

import numpy as np
import uvloop
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server

SAMPLE_BYTES = 4 * 16000  # float32 16 kHz: bytes per second of audio


class SinkStream(WSListener):
    """One connection: handshake, then count audio and answer segments."""

    def __init__(self, every: int, lag_s: float, late: list[float]) -> None:
        self.every = every
        self.lag_s = lag_s
        self.late = late  # how late each delayed answer went out, shared by every stream
        self.uid = ""
        self.received = 0
        self.frames = 0

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        """Options → SERVER_READY; audio → count, and a segments message every `every` frames."""
        if frame.msg_type == WSMsgType.BINARY:
            self.received += frame.payload_size
            self.frames += 1
            if self.every and self.frames % self.every == 0:
                end = self.received / SAMPLE_BYTES
                if self.lag_s:
                    due = time.monotonic() + self.lag_s
                    asyncio.get_running_loop().call_later(self.lag_s, self._answer, transport, end, due)
                else:
                    self._answer(transport, end, None)
        elif frame.msg_type == WSMsgType.TEXT and not self.uid:
            self.uid = str(json.loads(frame.get_payload_as_bytes())["uid"])
            ready = {"uid": self.uid, "message": "SERVER_READY", "backend": "sink"}
            transport.send(WSMsgType.TEXT, json.dumps(ready).encode())
        elif frame.msg_type == WSMsgType.TEXT:
            transport.send_close()
            transport.disconnect()
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()

    def _answer(self, transport: WSTransport, end: float, due: float | None) -> None:
        """One segments message covering the audio up to `end` seconds."""
        if due is not None:
            self.late.append(time.monotonic() - due)
        if transport.is_disconnected:
            return
        segment = {"start": "0.000", "end": f"{end:.3f}", "text": " audio", "completed": False}
        transport.send(WSMsgType.TEXT, json.dumps({"uid": self.uid, "segments": [segment]}).encode())


async def lateness(samples: list[float], interval_s: float = 0.01) -> None:
    """How late a periodic timer fires: the sink's own delay."""
    while True:
        expected = time.monotonic() + interval_s
        await asyncio.sleep(interval_s)
        samples.append(time.monotonic() - expected)


async def serve(port: int, every: int, lag_s: float, stats: Path) -> None:
    """Serve until SIGTERM, then write the stats."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    samples: list[float] = []
    answers: list[float] = []
    server = await ws_create_server(lambda _request: SinkStream(every, lag_s, answers), "127.0.0.1", port)
    timer = asyncio.create_task(lateness(samples))
    await stop.wait()
    timer.cancel()
    server.close()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    late = np.array(samples or [0.0])
    stats.write_text(json.dumps({
        "lateness_p50_s": float(np.percentile(late, 50)),
        "lateness_p99_s": float(np.percentile(late, 99)),
        "lateness_max_s": float(late.max()),
        "cpu_s": usage.ru_utime + usage.ru_stime,
        **_answer_lateness(answers),
    }))


def _answer_lateness(late: list[float]) -> dict[str, float]:
    if not late:
        return {}
    values = np.array(late)
    return {f"answer_late_p{q}_s": float(np.percentile(values, q)) for q in (50, 95, 99)}


def main() -> None:
    """Parse flags and serve."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--every", type=int, default=4, help="audio frames per segments message (0: never answer)"
    )
    parser.add_argument("--lag", type=float, default=0.0, help="answer each frame this many seconds late")
    parser.add_argument("--stats", type=Path, required=True)
    args = parser.parse_args()
    uvloop.run(serve(args.port, args.every, args.lag, args.stats))


if __name__ == "__main__":
    main()
