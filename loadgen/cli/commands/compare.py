"""`loadgen compare RUN_A RUN_B`: a CI gate on capacity; `loadgen compare --scaling RUN...`: scaling view.

Exit 0 when B's capacity is within --tolerance of A's, 1 on a regression or when A has no capacity to
compare with; the scaling view exits 0. Bad arguments or run directories exit 2 or 3 as in `report`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from loadgen.cli.commands.common import percentage
from loadgen.core.errors import EXIT_FAILED, EXIT_OK, UsageError


def register(commands: argparse._SubParsersAction) -> None:
    """Add the `compare` parser."""
    compare = commands.add_parser(
        "compare", help="compare two runs' capacity (CI gate), or scaling over runs"
    )
    compare.add_argument(
        "runs", type=Path, nargs="+", metavar="RUN_DIR", help="RUN_A RUN_B, or runs for --scaling"
    )
    compare.add_argument(
        "--tolerance",
        type=percentage(100, include_high=False),
        default=5.0,
        metavar="PCT",
        help="B may have up to PCT %% less capacity than A before it is a regression (default 5)",
    )
    compare.add_argument(
        "--scaling", action="store_true", help="capacity per replica and scaling efficiency over the runs"
    )
    compare.add_argument("--markdown", type=Path, metavar="FILE", help="also write the tables as Markdown")
    compare.set_defaults(handler=command_compare)


def command_compare(args: argparse.Namespace, console: Console) -> int:
    """Load each run's report data (no Prometheus: resources a report saved are used) and compare."""
    from loadgen.report.edge.inputs import read_inputs
    from loadgen.report.model.compare import (
        OK,
        REGRESSION,
        compare_runs,
        comparison_tables,
        figures,
        scaling,
        scaling_table,
        workload_warnings,
    )
    from loadgen.report.model.report import build_report
    from loadgen.report.render.console import rich_table
    from loadgen.report.render.markdown import table_md

    if not args.scaling and len(args.runs) != 2:
        raise UsageError(
            f"compare takes exactly two run directories (got {len(args.runs)}); use --scaling for more"
        )
    names = [str(path) for path in args.runs]
    runs = [
        figures(name, build_report(read_inputs(path, None, lambda line: None)))
        for name, path in zip(names, args.runs, strict=True)
    ]
    if args.scaling:
        view = scaling(runs)
        tables = [scaling_table(view)]
        notes = [f"skipped (no replicas in run.json): {', '.join(view.skipped)}"] if view.skipped else []
        code = EXIT_OK
    else:
        result = compare_runs(runs[0], runs[1], args.tolerance)
        tables, notes = comparison_tables(result), [f"{result.verdict.upper()}: {result.reason}"]
        code = EXIT_OK if result.verdict == OK else EXIT_FAILED
        if result.verdict == REGRESSION:
            notes[0] = f"[red]{notes[0]}[/]"
    for table in tables:
        console.print(rich_table(table))
    for note in notes:
        console.print(note, highlight=False, soft_wrap=True)
    for warning in workload_warnings(runs):
        console.print(f"[yellow]{warning}[/]", highlight=False, soft_wrap=True)
    if args.markdown:
        try:
            args.markdown.write_text("\n\n".join(table_md(t) for t in tables) + "\n", encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--markdown {args.markdown}: cannot write ({exc.strerror})") from exc
    return code
