"""Writing a report into its run directory: summary.json, report.md, report.html (the output edge)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from loadgen.data.results_file import write_json
from loadgen.data.run_dir import SUMMARY
from loadgen.report.edge.inputs import read_inputs
from loadgen.report.model.report import Report, build_report
from loadgen.report.render.html import render_html
from loadgen.report.render.markdown import render_md

REPORT_MD, REPORT_HTML = "report.md", "report.html"


def warn_stderr(line: str) -> None:
    """A warning line on stderr."""
    print(f"warning: {line}", file=sys.stderr)


def generate_report(
    run_dir: Path, prometheus_url: str | None, warn: Callable[[str], None] = warn_stderr
) -> tuple[Report, Path]:
    """Read the run (and Prometheus), write the three files, return the report and the HTML path."""
    report = build_report(read_inputs(run_dir, prometheus_url, warn))
    write_json(run_dir / SUMMARY, report.to_json_dict())
    write_text(run_dir / REPORT_MD, render_md(report))
    html = run_dir / REPORT_HTML
    write_text(html, render_html(report))
    return report, html


def write_text(path: Path, text: str) -> None:
    """Write `text` atomically (a temporary file, then a rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_report(run_dir: Path, prometheus_url: str | None) -> Path:
    """Write summary.json, report.md and report.html into `run_dir`; return the HTML path.

    Prometheus (when a URL is given) supplies the resources of each step window; an unreachable one is a
    warning on stderr and the report goes on without them.
    """
    return generate_report(run_dir, prometheus_url)[1]
