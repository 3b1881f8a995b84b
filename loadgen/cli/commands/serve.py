"""`loadgen serve`: a long-running load generator whose client count is set through its control API."""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

from rich.console import Console

from loadgen.cli.commands.common import (
    add_generator_args,
    add_metrics_args,
    load_audio,
    pool_shape,
    resolve_url,
    serve_metrics,
    session_settings,
)
from loadgen.core.errors import EXIT_OK
from loadgen.data.results_file import JsonlWriter
from loadgen.live.control import control_app, start_control
from loadgen.live.runner import PER_FILE
from loadgen.live.service import LoadService, WindowedMetrics
from loadgen.telemetry.event_loop import run as run_on_loop
from loadgen.telemetry.loop_monitor import LoopMonitor, monitored

CONTROL_PORT, METRICS_PORT = 9095, 9094  # docs/PORTS.md (no stack/ in the loadgen image; a test pins them)


def register(commands: argparse._SubParsersAction) -> None:
    """Add the `serve` parser."""
    serve = commands.add_parser(
        "serve", help="stay up; the client count follows the control API (status, target, window, stop)"
    )
    add_generator_args(serve, PER_FILE, audio_required=True)
    control = serve.add_argument_group("control")
    control.add_argument(
        "--control-host", default="127.0.0.1", help="control API address (default 127.0.0.1)"
    )
    control.add_argument(
        "--control-port", type=int, default=CONTROL_PORT, help=f"control API port (default {CONTROL_PORT})"
    )
    control.add_argument("--clients", type=int, default=0, help="clients to run from the start (default 0)")
    control.add_argument("--output-file", type=Path, help="also append every finished session to this JSONL")
    add_metrics_args(serve, default_port=METRICS_PORT)
    serve.set_defaults(handler=command_serve)


def command_serve(args: argparse.Namespace, console: Console) -> int:
    """Serve until SIGINT/SIGTERM or POST /stop."""
    url = resolve_url(args)
    settings = session_settings(args, url)
    corpus = load_audio(args, console)
    metrics = WindowedMetrics()
    serve_metrics(metrics, args)
    writer = JsonlWriter(args.output_file, keep=True) if args.output_file else None
    service = LoadService(settings, corpus, pool_shape(args), metrics, [writer.write] if writer else [])
    console.print(
        f"loadgen serve: sessions to {url}, control API on http://{args.control_host}:{args.control_port}, "
        f'metrics on {args.metrics_port or "off"}; POST /target {{"clients": N}} to start clients',
        highlight=False,
    )
    try:
        run_on_loop(monitored(_serve(service, args), LoopMonitor(metrics)), args.event_loop)
    finally:
        if writer is not None:
            writer.close()
    return EXIT_OK


async def _serve(service: LoadService, args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with service:
        runner = await start_control(control_app(service, stop), args.control_host, args.control_port)
        try:
            await service.set_target(max(0, args.clients))
            if args.rate is not None:
                await service.set_rate(args.rate)  # --arrival poisson|constant: sessions from the start
            await stop.wait()
        finally:
            await runner.cleanup()
