"""Capacity reports from a run directory: verdict, steps, USL, knees, resources, drift, recovery, compare.

`write_report(run_dir, prometheus_url)` writes summary.json, report.md and report.html and returns the
HTML path (a ramp calls it at its end; `loadgen report` calls it on any run directory).
"""

from loadgen.report.edge.output import generate_report, write_report

__all__ = ["generate_report", "write_report"]
