"""`loadgen plan --from DIR... --target-streams X`: replicas and hosts (or GPUs) for X streams at the SLO.

Exit 0 with an answer (hosts of the best measured replica count, added up linearly, where more replicas
on one host do not reach X); 1 when there is none (the inputs hold no replica count with a capacity, or
the fit failed); 2 on a bad flag or a DIR that is neither a run nor a
sweep directory; 3 when a run directory's files are damaged. The model: docs/PLAN.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console

from loadgen.cli.commands.common import percentage, positive_int
from loadgen.core.errors import EXIT_FAILED, EXIT_OK


def register(commands: argparse._SubParsersAction) -> None:
    """Add the `plan` parser."""
    plan = commands.add_parser(
        "plan", help="how many replicas and hosts carry X streams at the SLO, from ramp or sweep runs"
    )
    plan.add_argument(
        "--from",
        dest="dirs",
        type=Path,
        nargs="+",
        required=True,
        metavar="DIR",
        help="ramp run directories, sweep directories, or a directory of ramp runs (compare --scaling's)",
    )
    plan.add_argument(
        "--target-streams", type=positive_int, required=True, metavar="X", help="concurrent streams to carry"
    )
    plan.add_argument(
        "--headroom",
        type=percentage(1000, include_high=True),
        default=0.0,
        metavar="PCT",
        help="carry X plus PCT %% with one replica lost (default 0)",
    )
    plan.add_argument(
        "--per-host",
        type=positive_int,
        metavar="K",
        help="replicas per host or GPU (default: the most one measured run ran together)",
    )
    plan.add_argument("--json", action="store_true", help="print the plan as one JSON object")
    plan.set_defaults(handler=command_plan)


def command_plan(args: argparse.Namespace, console: Console) -> int:
    """Read the points, model the scaling, print the answer and every assumption."""
    from loadgen.report.edge.plan_inputs import plan_points
    from loadgen.report.model.plan import PlanError, plan

    points, notes = [], []
    try:
        for path in args.dirs:
            found, said = plan_points(path, lambda line: print(f"warning: {line}", file=sys.stderr))
            points += found
            notes += said
        answer = plan(points, args.target_streams, args.headroom, args.per_host, notes)
    except PlanError as exc:
        print(f"loadgen plan: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        print(json.dumps(answer.to_json([str(p) for p in args.dirs]), indent=2))
        return EXIT_OK
    console.print(
        f"[bold]{answer.replicas} replicas on {answer.hosts} host(s) or GPU(s)[/]"
        f", {answer.replicas_per_host} per host: {answer.reason}",
        highlight=False,
        soft_wrap=True,
    )
    console.print(
        f"per-replica capacity {answer.per_replica_capacity:.2f} streams,"
        f" scaling efficiency at {answer.replicas} replicas {answer.efficiency:.0%}"
        + (" (hosts of the best measured count, added up linearly)" if answer.scale_out else ""),
        highlight=False,
        soft_wrap=True,
    )
    measured = ", ".join(f"{p.replicas} replica(s): {p.capacity:g}" for p in answer.points)
    console.print(f"measured: {measured}", highlight=False, soft_wrap=True)
    for line in answer.assumptions:
        console.print(f"- {line}", highlight=False, soft_wrap=True)
    return EXIT_OK
