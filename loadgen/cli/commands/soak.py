"""`loadgen soak`: hold a fixed client count for a long time, judged in consecutive windows."""

from __future__ import annotations

import argparse

from rich.console import Console

from loadgen.cli.commands.common import positive_float, positive_int
from loadgen.cli.commands.driving import (
    add_driving_args,
    execute,
    finish,
    prepare,
)
from loadgen.live.runner import CONTINUOUS


def register(commands: argparse._SubParsersAction) -> None:
    """Add the `soak` parser."""
    soak = commands.add_parser("soak", help="hold N clients for a long time, judged window by window")
    hold = soak.add_argument_group("soak")
    hold.add_argument("--clients", type=positive_int, required=True, help="clients to hold")
    hold.add_argument("--duration", type=positive_float, required=True, help="seconds to measure in total")
    hold.add_argument(
        "--window", type=positive_float, default=300.0, help="seconds per judged window (default 300)"
    )
    add_driving_args(soak, "soak", CONTINUOUS)
    soak.set_defaults(handler=command_soak)


def command_soak(args: argparse.Namespace, console: Console) -> int:
    """Exit 0 when every window passed, 1 when one failed, 130 when interrupted."""
    schedule = {"kind": "soak", "clients": args.clients, "duration_s": args.duration, "window_s": args.window}
    drive = prepare(args, "soak", schedule, args.window)
    execute(drive, console, lambda ramp: ramp.soak(args.clients, args.duration, args.window))
    failed = [s.index for s in drive.steps if not s.passed]
    judged = len(drive.steps)
    reason = f"{judged - len(failed)}/{judged} windows passed" + (f" (failed: {failed})" if failed else "")
    answer = f"soak at {args.clients} clients: {reason}"
    outcome = {"windows": judged, "failed_windows": failed, "reason": reason}
    return finish(drive, console, outcome, answer, bool(judged) and not failed)
