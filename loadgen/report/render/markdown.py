"""report.md: the sections as GitHub-flavoured Markdown tables, verdict first. Pure."""

from __future__ import annotations

from loadgen.report.model.report import Report
from loadgen.report.model.sweep import SweepReport, sweep_sections
from loadgen.report.model.tables import Section, Table, sections


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table_md(table: Table) -> str:
    """One Markdown table (a key/value table gets empty headers)."""
    lines = [f"**{table.title}**", ""] if table.title else []
    lines.append("| " + " | ".join(_cell(h) or " " for h in table.headers) + " |")
    lines.append("|" + "|".join("---" for _ in table.headers) + "|")
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines)


def _section_md(section: Section) -> str:
    parts = [f"## {section.title}"]
    parts += [f"> {note}" for note in section.notes]
    parts += [table_md(t) for t in section.tables]
    return "\n\n".join(parts)


def render_md(report: Report) -> str:
    """The whole report as Markdown (plots are in report.html)."""
    title = f"# WhisperLive capacity report: {report.run.kind} in `{report.run.path}`"
    body = "\n\n".join(_section_md(s) for s in sections(report))
    return f"{title}\n\n{body}\n\nPlots: see report.html next to this file.\n"


def render_sweep_md(sweep: SweepReport, plot: str | None) -> str:
    """The sweep's comparison as Markdown, the decision first; `plot` is the capacity PNG beside it."""
    title = f"# WhisperLive sweep comparison: `{sweep.info.path}`"
    body = "\n\n".join(_section_md(s) for s in sweep_sections(sweep))
    image = f"\n\n![capacity per configuration]({plot})" if plot else ""
    return f"{title}\n\n**{sweep.decision.sentence}**\n\n{body}{image}\n"
