"""`loadgen` command line: the dispatcher over `loadgen.cli.commands.*`.

Exit codes: 0 success; 1 the run finished but some sessions failed (or no capacity was found);
2 bad flag or value; 3 no usable audio; 4 server unreachable; 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rich.console import Console

from loadgen.cli.commands import (
    chaos,
    compare,
    plan,
    prepare_audio,
    ramp,
    report,
    run,
    serve,
    simulate,
    soak,
    sweep,
    trace,
)
from loadgen.cli.commands.common import Parser
from loadgen.core.errors import UserError

COMMANDS = (run, prepare_audio, simulate, chaos, report, compare, plan, serve, ramp, soak, sweep, trace)


def build_parser() -> argparse.ArgumentParser:
    """The full `loadgen` argument parser."""
    parser = Parser(prog="loadgen", description="Capacity testing for WhisperLive deployments.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in COMMANDS:
        command.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `loadgen` command."""
    args = build_parser().parse_args(argv)
    console = Console()
    try:
        return int(args.handler(args, console))
    except UserError as exc:
        print(f"loadgen {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
