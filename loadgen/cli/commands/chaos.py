"""`loadgen chaos`: kill, pause, resume or restart one replica now (local stack or Compose), logged."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.console import Console

from loadgen.chaos.faults import (
    COMPOSE_SERVICE,
    KILL,
    PAUSE,
    RESTART,
    RESUME,
    EventSink,
    act_and_log,
    event_appender,
    open_target,
)
from loadgen.cli.commands.common import positive_float, positive_int
from loadgen.core.errors import EXIT_OK


def register(commands: argparse._SubParsersAction) -> None:
    """Add the `chaos` parser."""
    chaos = commands.add_parser("chaos", help="kill, pause, resume or restart one replica now")
    chaos.add_argument("action", choices=(KILL, PAUSE, RESUME, RESTART), help="what to do to the replica")
    chaos.add_argument("replica", type=positive_int, help="the replica, from 1 (whisperlive-N)")
    chaos.add_argument("--compose", action="store_true", help="act on Compose containers (Docker SDK)")
    chaos.add_argument(
        "--stack-dir", type=Path, default=Path("runs/stack"), help="the local stack's run dir (runs/stack)"
    )
    chaos.add_argument("--service", default=COMPOSE_SERVICE, help=f"Compose service ({COMPOSE_SERVICE})")
    chaos.add_argument("--project", help="Compose project (default: any)")
    chaos.add_argument("--duration", type=positive_float, help="pause: resume after this many seconds")
    chaos.add_argument("--events", type=Path, help="append the event to this events.jsonl")
    chaos.add_argument("--step", type=int, help="the step number recorded with the event")
    chaos.set_defaults(handler=command_chaos)


def command_chaos(args: argparse.Namespace, console: Console) -> int:
    """Act once (pause --duration: pause, wait, resume) and print each detail."""
    target = open_target(args.compose, args.stack_dir, args.service, args.project)
    sink: EventSink = event_appender(args.events) if args.events else (lambda _event: None)
    actions = [args.action] + ([RESUME] if args.action == PAUSE and args.duration else [])
    for number, action in enumerate(actions):
        if number:
            time.sleep(args.duration)
        detail = act_and_log(target, action, args.replica, sink, args.step)
        console.print(f"{action} {target.name(args.replica)}: {detail}", highlight=False)
    return EXIT_OK
