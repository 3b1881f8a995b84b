"""`loadgen ramp`: step the client count up, judge each step, find max concurrent connections."""

from __future__ import annotations

import argparse
import dataclasses

from rich.console import Console

from loadgen.commands.common import positive_float, positive_int
from loadgen.commands.driving import (
    add_driving_args,
    execute,
    finish,
    prepare,
)
from loadgen.errors import UsageError
from loadgen.progress import capacity_line
from loadgen.ramp import first_failure_is_generator
from loadgen.runner import PER_FILE
from loadgen.search import AdaptiveSearch, ExplicitSearch, Search, outcome


def step_list(text: str) -> list[int]:
    """argparse type: `1,2,4,8` (client counts >= 1)."""
    try:
        steps = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected client counts like 1,2,4,8, got {text!r}") from exc
    if not steps or min(steps) < 1:
        raise argparse.ArgumentTypeError(f"every step needs at least 1 client, got {text!r}")
    return steps


def register(commands: argparse._SubParsersAction) -> None:
    """Add the `ramp` parser."""
    ramp = commands.add_parser(
        "ramp", help="step the client count up and judge each step: max concurrent connections"
    )
    schedule = ramp.add_argument_group("schedule (explicit --steps, or the adaptive search)")
    schedule.add_argument("--steps", type=step_list, help="explicit client counts, e.g. 1,2,4,8")
    schedule.add_argument(
        "--keep-going", action="store_true", help="--steps: run every step, even after one failed"
    )
    schedule.add_argument("--start", type=positive_int, default=1, help="adaptive: first step (default 1)")
    schedule.add_argument("--factor", type=float, default=2.0, help="adaptive: growth factor (default 2)")
    schedule.add_argument(
        "--max-clients", type=positive_int, default=256, help="adaptive: never more clients (default 256)"
    )
    schedule.add_argument(
        "--resolution", type=positive_int, default=1, help="adaptive: bisect down to this many clients (1)"
    )
    schedule.add_argument(
        "--resolution-pct", type=positive_float, help="adaptive: or to this percent of the passing step"
    )
    schedule.add_argument(
        "--hold", type=positive_float, default=60.0, help="seconds measured per step, after warm-up (60)"
    )
    add_driving_args(ramp, "ramp", PER_FILE)
    ramp.set_defaults(handler=command_ramp)


def _search(args: argparse.Namespace) -> tuple[Search, dict]:
    if args.steps:
        return ExplicitSearch(args.steps, args.keep_going), {"kind": "steps", "steps": args.steps}
    try:
        search = AdaptiveSearch(
            args.start, args.factor, args.max_clients, args.resolution, args.resolution_pct
        )
    except ValueError as exc:
        raise UsageError(
            f"adaptive schedule: {exc} (--start, --factor, --max-clients, --resolution)"
        ) from exc
    fields = ("start", "factor", "max_clients", "resolution", "resolution_pct")
    return search, {"kind": "adaptive", **{k: getattr(search, k) for k in fields}}


def command_ramp(args: argparse.Namespace, console: Console) -> int:
    """Exit 0 when a capacity was found, 1 when not (with the reason), 130 when interrupted."""
    search, schedule = _search(args)
    drive = prepare(args, "ramp", schedule, args.hold)
    execute(drive, console, lambda ramp: ramp.run(search))
    found = outcome([(s["clients"], s["verdict"]["passed"]) for s in drive.steps])
    reason = found.reason
    if first_failure_is_generator(drive.steps):
        reason += "; the first failure is the load generator's own saturation: add generators, not a verdict"
    answer = capacity_line(found.capacity, reason)
    return finish(
        drive, console, {**dataclasses.asdict(found), "reason": reason}, answer, found.capacity is not None
    )
