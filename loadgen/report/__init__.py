"""Capacity reports from a run directory: verdict, steps, USL, knees, resources, drift, recovery, compare.

`write_report(run_dir, prometheus_url)` writes summary.json, report.md and report.html and returns the
HTML path (a ramp calls it at its end; `loadgen report` calls it on any run directory).
`write_sweep_report(sweep_dir)` writes a sweep's comparison (sweep_report.md/.html/.json) and returns it.
"""

from loadgen.report.edge.output import generate_report, write_report
from loadgen.report.edge.sweep import write_sweep_report

__all__ = ["generate_report", "write_report", "write_sweep_report"]
