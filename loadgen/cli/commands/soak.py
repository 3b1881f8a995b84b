"""`loadgen soak`: hold a fixed client count for a long time, judged in consecutive windows."""

from __future__ import annotations

import argparse

from rich.console import Console

from loadgen.cli.commands.common import positive_float, positive_int
from loadgen.cli.commands.driving import (
    Drive,
    add_driving_args,
    execute,
    finish,
    prepare,
)
from loadgen.core.arrivals import CLOSED
from loadgen.core.errors import UsageError
from loadgen.live.ramp import RateMode
from loadgen.live.runner import CONTINUOUS


def register(commands: argparse._SubParsersAction) -> None:
    """Add the `soak` parser."""
    soak = commands.add_parser("soak", help="hold N clients for a long time, judged window by window")
    hold = soak.add_argument_group("soak")
    hold.add_argument(
        "--clients", type=positive_int, help="clients to hold (or, with --arrival, sessions at --rate)"
    )
    hold.add_argument("--duration", type=positive_float, required=True, help="seconds to measure in total")
    hold.add_argument(
        "--window", type=positive_float, default=300.0, help="seconds per judged window (default 300)"
    )
    add_driving_args(soak, "soak", CONTINUOUS)
    soak.set_defaults(handler=command_soak)


def command_soak(args: argparse.Namespace, console: Console) -> int:
    """Exit 0 when every window passed, 1 when one failed, 130 when interrupted."""
    if (args.arrival == CLOSED) != (args.rate is None) or (args.clients is None) == (args.rate is None):
        raise UsageError("soak holds --clients N, or (with --arrival poisson|constant) --rate R: one of them")
    schedule = {"kind": "soak", "clients": args.clients, "duration_s": args.duration, "window_s": args.window}
    drive = prepare(args, "soak", schedule | ({"rate": args.rate} if args.rate else {}), args.window)
    if args.rate is not None:
        rate = args.rate
        drive.rates = RateMode(lambda level: level * rate, min(args.session_length.mean_s, args.ramp_timeout))
    execute(drive, console, lambda ramp: ramp.soak(args.clients or 1, args.duration, args.window))
    failed = [s.index for s in drive.steps if not s.passed]
    judged = len(drive.steps)
    reason = f"{judged - len(failed)}/{judged} windows passed" + (f" (failed: {failed})" if failed else "")
    held = f"{args.clients} clients" if args.rate is None else f"{args.rate:g} sessions/s{_streams(drive)}"
    answer = f"soak at {held}: {reason}"
    outcome = {"windows": judged, "failed_windows": failed, "reason": reason}
    return finish(drive, console, outcome, answer, bool(judged) and not failed)


def _streams(drive: Drive) -> str:
    """The concurrency the rate produced: the mean of the windows' time-weighted streams."""
    means = [s.window.active_clients.avg for s in drive.steps if s.window and s.window.active_clients]
    return f" ({sum(means) / len(means):.1f} concurrent streams)" if means else ""
