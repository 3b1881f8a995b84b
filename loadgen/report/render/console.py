"""The report's tables for the terminal (rich). Pure: returns renderables."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table as RichTable

from loadgen.report.model.report import Report
from loadgen.report.model.sweep import SweepReport, answer_table, compact_configs_table
from loadgen.report.model.tables import Table, compact_steps_table, verdict_table


def rich_table(table: Table, title: str = "") -> RichTable:
    """A rich table of one report table (a key/value table shows no header)."""
    keyed = not any(table.headers)
    out = RichTable(title=title or table.title or None, show_header=not keyed, title_justify="left")
    for header in table.headers:
        out.add_column(header, overflow="fold")
    for row in table.rows:
        out.add_row(*row)
    return out


def verdict_view(report: Report) -> Group:
    """The verdict table, then the steps table when there are steps."""
    parts = [rich_table(verdict_table(report), "Verdict")]
    if report.rows:
        parts.append(rich_table(compact_steps_table(report.rows), "Steps (every column: report.md)"))
    return Group(*parts)


def sweep_view(sweep: SweepReport) -> Group:
    """The sweep's answer, then its configurations (every column: sweep_report.md)."""
    return Group(
        rich_table(answer_table(sweep), "Sweep comparison"),
        rich_table(compact_configs_table(sweep), "Configurations (every column: sweep_report.md)"),
    )
