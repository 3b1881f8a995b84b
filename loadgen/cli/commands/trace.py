"""`loadgen trace`: write a trace (docs/TRACES.md) from a run's sessions, or from the arrival model."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from loadgen.cli.commands.common import add_arrival_args, add_seed_arg, add_session_length_arg, positive_float
from loadgen.core.arrivals import CLOSED, open_arrivals
from loadgen.core.errors import EXIT_OK, UsageError
from loadgen.core.trace import trace_of_sessions
from loadgen.data.results_file import read_results
from loadgen.data.run_dir import RunDir
from loadgen.data.traces import write_trace


def register(commands: argparse._SubParsersAction) -> None:
    """Add the `trace` parser."""
    trace = commands.add_parser(
        "trace", help="write a trace to replay with `run --trace`: from a run's sessions, or from --arrival"
    )
    trace.add_argument(
        "--from",
        dest="source",
        type=Path,
        metavar="RUN",
        help="a run directory (or a sessions JSONL file): one row per session, offsets from the first start",
    )
    model = trace.add_argument_group("or generated from the arrival model")
    add_arrival_args(model)
    model.add_argument("--duration", type=positive_float, help="seconds of arrivals")
    add_session_length_arg(model, "each session's length", "60")
    add_seed_arg(model)
    trace.add_argument("--out", type=Path, required=True, help="the trace file to write (.csv or .jsonl)")
    trace.set_defaults(handler=command_trace)


def command_trace(args: argparse.Namespace, console: Console) -> int:
    """Write the trace; print how many sessions over how long."""
    if (args.source is None) == (args.arrival == CLOSED):
        raise UsageError("give either --from RUN or --arrival poisson|constant --rate R --duration D")
    if args.source is not None:
        if not args.source.exists():
            raise UsageError(f"--from {args.source}: no such run directory or sessions file")
        results = (
            RunDir(args.source).read_sessions()[0] if args.source.is_dir() else read_results(args.source)[0]
        )
        arrivals = trace_of_sessions(results)
        if not arrivals:
            raise UsageError(f"{args.source} has no sessions with a length to replay")
    else:
        if args.rate is None or args.duration is None:
            raise UsageError(f"--arrival {args.arrival} needs --rate R and --duration D")
        arrivals = open_arrivals(args.arrival, args.rate, args.duration, args.session_length, args.seed)
    write_trace(args.out, arrivals)
    span = arrivals[-1].start_s if arrivals else 0.0
    console.print(f"trace {args.out}: {len(arrivals)} sessions over {span:.1f} s", highlight=False)
    return EXIT_OK
