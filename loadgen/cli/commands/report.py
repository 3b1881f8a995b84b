"""`loadgen report RUN_DIR`: summary.json, report.md and report.html for a ramp, soak or run directory;
for a sweep directory (sweep.json), the comparison of its configurations (sweep_report.md/.html/.json).

Exit 0 when the run found a capacity (a soak: held without failing windows or drift; a sweep: a best
configuration), 1 when not; 2 when RUN_DIR is missing or not a run directory, 3 when its files are
damaged beyond a torn last line.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from loadgen.core.errors import EXIT_FAILED, EXIT_OK


def register(commands: argparse._SubParsersAction) -> None:
    """Add the `report` parser."""
    report = commands.add_parser(
        "report", help="write summary.json, report.md and report.html for a run directory"
    )
    report.add_argument(
        "run_dir", type=Path, metavar="RUN_DIR", help="directory a ramp, soak, run or sweep wrote"
    )
    source = report.add_mutually_exclusive_group()
    source.add_argument(
        "--prometheus",
        metavar="URL",
        help="Prometheus for resources per step (default: the run's own prometheus_url, if any)",
    )
    source.add_argument(
        "--no-prometheus", action="store_true", help="do not query Prometheus (resources a report saved stay)"
    )
    report.set_defaults(handler=command_report)


def command_report(args: argparse.Namespace, console: Console) -> int:
    """Write the report files, print the verdict table and the paths."""
    from loadgen.report import generate_report  # matplotlib and scipy load only for this command
    from loadgen.report.edge.inputs import manifest_prometheus
    from loadgen.report.edge.sweep import is_sweep_dir
    from loadgen.report.render.console import verdict_view

    if is_sweep_dir(args.run_dir):
        if args.prometheus:
            console.print(
                "[yellow]warning[/] --prometheus is not used for a sweep directory: each configuration's "
                "resources are those its summary.json saved (loadgen report DIR/configs/ID refreshes one)",
                highlight=False,
                soft_wrap=True,
            )
        return _sweep_report(args.run_dir, console)
    url = None if args.no_prometheus else args.prometheus or manifest_prometheus(args.run_dir)
    report, html = generate_report(
        args.run_dir, url, lambda line: console.print(f"[yellow]warning[/] {line}")
    )
    console.print(verdict_view(report))
    for note in report.run.notes:
        console.print(f"[yellow]note[/] {note}", highlight=False, soft_wrap=True)
    console.print(f"report: {html}  (report.md, summary.json beside it)", highlight=False, soft_wrap=True)
    return EXIT_OK if report.verdict.passed else EXIT_FAILED


def _sweep_report(sweep_dir: Path, console: Console) -> int:
    """The comparison of a sweep's configurations (resources from each run's saved summary.json)."""
    from loadgen.report.edge.sweep import SWEEP_HTML, write_sweep_report
    from loadgen.report.render.console import sweep_view

    sweep = write_sweep_report(sweep_dir, lambda line: console.print(f"[yellow]warning[/] {line}"))
    console.print(sweep_view(sweep))
    for note in sweep.notes:
        console.print(f"[yellow]note[/] {note}", highlight=False, soft_wrap=True)
    html = sweep_dir / SWEEP_HTML
    console.print(f"report: {html}  (sweep_report.md, .json beside it)", highlight=False, soft_wrap=True)
    return EXIT_OK if sweep.decision.best is not None else EXIT_FAILED
