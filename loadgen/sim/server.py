"""`loadgen simulate`: a WhisperLive-protocol server with a known, configurable lag curve.

It speaks WhisperLive 0.10.0's protocol exactly (options, SERVER_READY, WAIT above `max_clients`,
segments with string start/end and completed flags, END_OF_AUDIO with no flush) and returns the reference
transcript of every corpus utterance it recognizes in the stream (by the first samples of the utterance,
which is where the load generator starts a chunk). Its lag grows once more than `capacity` streams are
active, so a whole capacity test can be rehearsed, and knee searches tested, without a GPU. With a
`Fault` (`--fault MODE`) it misbehaves in one of the ways `loadgen.sim.model.FAULT_MODES` names.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field

import numpy as np
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from loadgen.core.protocol import END_OF_AUDIO, SAMPLE_RATE
from loadgen.data.corpus import Corpus
from loadgen.sim.model import (
    Fault,
    LagModel,
    Span,
    SpokenUtterance,
    encode_segments,
    fault_message,
    is_silence,
    transcript,
)

FINGERPRINT_SAMPLES = 800  # 50 ms of float32 audio
_BYTES_PER_SAMPLE = 4
Fingerprint = tuple[int, bytes]


def fingerprint(samples: np.ndarray) -> Fingerprint | None:
    """Leading zero samples and the 50 ms after them; None for silence (it must never match)."""
    nonzero = np.flatnonzero(samples)
    if not len(nonzero):
        return None
    lead = int(nonzero[0])
    window = samples[lead : lead + FINGERPRINT_SAMPLES]
    return (lead, window.tobytes()) if len(window) == FINGERPRINT_SAMPLES else None


def fingerprint_index(corpus: Corpus) -> dict[Fingerprint, tuple[float, tuple[str, ...]]]:
    """Fingerprint of each utterance's start → (duration, reference words)."""
    index = {}
    for u in corpus.utterances:
        key = fingerprint(u.audio)
        if key is not None:
            index[key] = (u.duration_s, tuple((u.reference or "").split()))
    return index


@dataclass
class SimulatedStream:
    """What one connection has sent so far."""

    samples: int = 0
    utterances: list[SpokenUtterance] = field(default_factory=list)
    skipped: list[Span] = field(default_factory=list)  # audio passed over (`LagModel.skip_overload`)
    silent: bool = False  # the last chunk was silence

    @property
    def position_s(self) -> float:
        """Seconds of audio received."""
        return self.samples / SAMPLE_RATE

    def add(self, frame: bytes, index: dict[Fingerprint, tuple[float, tuple[str, ...]]]) -> None:
        """Take one audio frame, noting an utterance that starts with it and whether it is silence."""
        samples = np.frombuffer(frame, dtype=np.float32, count=len(frame) // _BYTES_PER_SAMPLE)
        self.silent = is_silence(samples)
        key = fingerprint(samples)
        known = index.get(key) if key is not None else None
        if known is not None:
            duration, words = known
            self.utterances.append(SpokenUtterance(self.position_s, self.position_s + duration, words))
        self.samples += len(frame) // _BYTES_PER_SAMPLE

    def skip(self, start_s: float) -> None:
        """The audio from `start_s` to the current position is passed over (joined to the last span)."""
        if self.skipped and self.skipped[-1][1] >= start_s:
            start_s = self.skipped[-1][0]
            self.skipped.pop()
        self.skipped.append((start_s, self.position_s))


class Simulator:
    """The server: one `handle` per connection."""

    def __init__(
        self,
        corpus: Corpus,
        lag_model: LagModel,
        max_clients: int,
        last_n: int = 10,
        fault: Fault | None = None,
    ) -> None:
        self.index = fingerprint_index(corpus)
        self.lag_model = lag_model
        self.max_clients = max_clients
        self.last_n = last_n
        self.fault = fault or Fault()
        self.active = 0
        self.silent = 0  # active streams with VAD on whose last chunk was silence
        self._seen_uids: set[str] = set()

    async def handle(self, ws: ServerConnection) -> None:
        """Handshake, then stream transcripts back `lag` seconds after the audio arrived."""
        try:
            options = json.loads(await ws.recv())
            uid = str(options["uid"])
        except (ConnectionClosed, ValueError, KeyError, TypeError):
            return
        if self.active >= self.max_clients:
            await ws.send(json.dumps({"uid": uid, "status": "WAIT", "message": 1.0}))
            return
        if not await self._handshake_faults(ws, uid):
            return
        self.active += 1
        stream = SimulatedStream()
        vad = bool(options.get("use_vad", True))  # upstream's default
        try:
            await ws.send(json.dumps({"uid": uid, "message": "SERVER_READY", "backend": "simulator"}))
            await self._stream(ws, uid, stream, self._drop_after(uid), vad)
        finally:
            self.active -= 1
            if vad and stream.silent:
                self.silent -= 1

    @property
    def load(self) -> float:
        """The load that sets the lag: silent streams with VAD cost `silence_cost` each."""
        return self.lag_model.load(self.active, self.silent)

    async def _handshake_faults(self, ws: ServerConnection, uid: str) -> bool:
        """Misbehave before SERVER_READY as the fault says; False: no SERVER_READY follows."""
        if self.fault.close_in_handshake:
            await ws.close()
            return False
        with contextlib.suppress(ConnectionClosed):
            for kind in self.fault.handshake:
                await ws.send(fault_message(kind, uid))
            if not self.fault.ready:
                await ws.wait_closed()  # the client gives up (ready timeout) or was refused
        return self.fault.ready

    def _drop_after(self, uid: str) -> float | None:
        """Audio seconds after which this connection is dropped (a uid's first connection only)."""
        first = uid not in self._seen_uids
        self._seen_uids.add(uid)
        return self.fault.drop_first_after_s if first else None

    async def _stream(
        self, ws: ServerConnection, uid: str, stream: SimulatedStream, drop_after_s: float | None, vad: bool
    ) -> None:
        pending: set[asyncio.Task[None]] = set()
        mid_stream = list(self.fault.mid_stream)
        try:
            async for frame in ws:
                if frame == END_OF_AUDIO or not isinstance(frame, bytes):
                    break
                start_s, was_silent = stream.position_s, stream.silent
                stream.add(frame, self.index)
                if vad and stream.silent != was_silent:
                    self.silent += 1 if stream.silent else -1
                if drop_after_s is not None and stream.position_s >= drop_after_s:
                    await ws.close()
                    break
                if not self.fault.transcribe:
                    continue
                for kind in mid_stream:
                    await ws.send(fault_message(kind, uid))
                mid_stream.clear()
                if not self.lag_model.keeps(start_s, self.load):
                    stream.skip(start_s)
                    continue
                delay = self.lag_model.lag(self.load)
                task = asyncio.create_task(self._send_later(ws, uid, stream, stream.position_s, delay))
                pending.add(task)
                task.add_done_callback(pending.discard)
        except ConnectionClosed:
            pass
        finally:
            for task in pending:  # END_OF_AUDIO drops what is not transcribed yet, as upstream does
                task.cancel()

    async def _send_later(
        self, ws: ServerConnection, uid: str, stream: SimulatedStream, covered_s: float, delay: float
    ) -> None:
        await asyncio.sleep(delay)
        segments = transcript(stream.utterances, covered_s, self.last_n, stream.skipped)
        if segments:
            with contextlib.suppress(ConnectionClosed):
                await ws.send(json.dumps(encode_segments(uid, segments)))


async def run_simulator(simulator: Simulator, host: str, port: int, stop: asyncio.Event) -> None:
    """Serve until `stop` is set."""
    async with serve(simulator.handle, host, port, compression=None, max_size=2**20):
        await stop.wait()
