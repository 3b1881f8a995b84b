"""The anchor: N clients of upstream `whisper_live.client.Client` (websocket-client, one thread each).

Each client connects and sends its options from its own WebSocket thread, as upstream does; a sender
thread per client waits for SERVER_READY and then paces like upstream's `play_file` without playback:
{send chunk; time.sleep(chunk)}. Slips are measured against the ideal schedule t0 + k·chunk and written,
with each send's wake lateness and each client's t0, to `--out` (.npz), as `bench.naive_client` does.

`pyaudio` is replaced by an empty module: upstream imports it at the top of `client.py`, but only the
microphone and playback paths (not used here) touch it, and PortAudio is not installed on this machine.

    python -m bench.upstream_client --host 127.0.0.1 --port 9300 --num-clients 100 --duration 20 --out up.npz
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import types
from pathlib import Path

import numpy as np

from bench.audio import NaiveSchedule, corpus_pcm

sys.modules.setdefault("pyaudio", types.ModuleType("pyaudio"))
from whisper_live.client import Client  # noqa: E402

READY_TIMEOUT_S = 30.0


def stream(client: Client, audio: bytes, chunk_s: float, until: float, t0s: list[float],
           slips: list[tuple[float, float, float]]) -> None:
    """The sender thread of one client."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not client.recording:
        if client.waiting or client.server_error or time.monotonic() > deadline:
            return
        time.sleep(0.01)
    t0 = time.monotonic()
    t0s.append(t0)
    schedule = NaiveSchedule(audio, chunk_s, t0, slips)
    while (now := time.monotonic()) < until:
        client.send_packet_to_server(schedule.next_chunk(now))
        time.sleep(chunk_s)
    client.send_packet_to_server(Client.END_OF_AUDIO.encode())
    client.close_websocket()


def main() -> None:
    """Start the clients at `--connect-rate`, stream until the deadline, save the slips."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--num-clients", type=int, required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--connect-rate", type=float, default=200.0)
    parser.add_argument("--chunk-s", type=float, default=0.256)
    parser.add_argument("--audio-dir", type=Path, default=Path("test_audio/corpus"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    audio = corpus_pcm(args.audio_dir)
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - upstream prints every connection event
    t0s: list[float] = []
    slips: list[tuple[float, float, float]] = []
    started = time.monotonic()
    until = started + args.duration
    senders = []
    for i in range(args.num_clients):
        client = Client(args.host, args.port, lang="en", model="tiny.en", use_vad=False,
                        log_transcription=False)
        sender = threading.Thread(target=stream, args=(client, audio, args.chunk_s, until, t0s, slips))
        sender.start()
        senders.append(sender)
        time.sleep(max(0.0, started + (i + 1) / args.connect_rate - time.monotonic()))
    for sender in senders:
        sender.join()
    failures = args.num_clients - len(t0s)
    np.savez(args.out, t0s=np.array(t0s), slips=np.array(slips).reshape(-1, 3), failures=failures)


if __name__ == "__main__":
    main()
