"""`loadgen simulate`: a WhisperLive-protocol server with a known lag curve."""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

from rich.console import Console

from loadgen.cli.commands.common import load_audio, positive_int
from loadgen.core.errors import EXIT_OK, UsageError
from loadgen.sim.model import FAULT_MODES, LagModel
from loadgen.sim.server import Simulator, run_simulator


def register(commands: argparse._SubParsersAction) -> None:
    """Add the `simulate` parser."""
    sim = commands.add_parser("simulate", help="a WhisperLive-protocol server with a known lag curve")
    sim.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    sim.add_argument("--port", type=int, default=9100, help="listen port (default 9100)")
    sim.add_argument("--audio-dir", type=Path, required=True, help="the corpus whose transcripts it returns")
    sim.add_argument("--capacity", type=positive_int, default=4, help="streams served at the base lag")
    sim.add_argument("--base-lag", type=float, default=0.3, help="lag in seconds up to --capacity streams")
    sim.add_argument(
        "--per-stream-lag",
        type=float,
        default=0.5,
        help="extra lag in seconds per active stream beyond --capacity",
    )
    sim.add_argument(
        "--skip-overload",
        action="store_true",
        help="beyond --capacity streams keep the base lag and skip a share 1 - capacity/streams of each "
        "stream's audio, as WhisperLive does when it falls behind",
    )
    sim.add_argument(
        "--silence-cost",
        type=float,
        default=1.0,
        help="with VAD on (the client's use_vad), a stream whose last chunk is silence costs this share of "
        "a speaking one in the load that sets the lag: e.g. 0.1 to model WhisperLive's VAD, so the knee "
        "moves with the speech ratio (default 1: silence costs as much as speech)",
    )
    sim.add_argument("--max-clients", type=positive_int, default=10_000, help="WAIT above this many streams")
    sim.add_argument(
        "--fault",
        choices=sorted(FAULT_MODES),
        default="none",
        help="misbehave on purpose, to test a client's handling of hostile servers (default none)",
    )
    sim.set_defaults(handler=command_simulate)


def command_simulate(args: argparse.Namespace, console: Console) -> int:
    """Serve until SIGINT/SIGTERM."""
    corpus = load_audio(args, console)
    cost = args.silence_cost
    if not 0 <= cost <= 1:
        raise UsageError(f"--silence-cost {cost:g} is outside [0, 1]: a share of a speaking stream's cost")
    model = LagModel(args.base_lag, args.capacity, args.per_stream_lag, args.skip_overload, cost)
    simulator = Simulator(corpus, model, args.max_clients, fault=FAULT_MODES[args.fault])
    beyond = "skipping audio beyond" if model.skip_overload else f"+{model.per_stream_s} s per stream beyond"
    console.print(
        f"simulator on ws://{args.host}:{args.port}: lag {model.base_s} s up to {model.capacity} streams, "
        f"{beyond}, silence with VAD costs {model.silence_cost:g}, fault {args.fault}",
        highlight=False,
    )
    try:
        asyncio.run(_simulate(simulator, args.host, args.port))
    except OSError as exc:
        raise UsageError(
            f"--port {args.port}: cannot listen on {args.host}:{args.port} ({exc.strerror})"
        ) from exc
    return EXIT_OK


async def _simulate(simulator: Simulator, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await run_simulator(simulator, host, port, stop)
