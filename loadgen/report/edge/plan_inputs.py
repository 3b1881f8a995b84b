"""Reading `loadgen plan --from DIR...` inputs into (replicas, capacity) points: the plan's input edge.

A DIR is a sweep directory (its sweep.json), a ramp run directory (its run.json, read as `report` reads
it: the capacity is the median of a `--repeat` run), or a directory of ramp run directories (the runs a
`compare --scaling` compares).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from loadgen.core.errors import UsageError
from loadgen.data.run_dir import MANIFEST
from loadgen.report.edge.inputs import RunDirError, read_inputs
from loadgen.report.model.compare import figures
from loadgen.report.model.plan import PlanError, PlanPoint, sweep_points
from loadgen.report.model.report import build_report

SWEEP_FILE = "sweep.json"


def plan_points(path: Path, warn: Callable[[str], None]) -> tuple[list[PlanPoint], list[str]]:
    """The points in `path` and the notes saying what was used or skipped."""
    if (path / SWEEP_FILE).is_file():
        try:
            sweep = json.loads((path / SWEEP_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RunDirError(f"{path / SWEEP_FILE}: cannot read it as JSON ({exc})") from exc
        if not isinstance(sweep, dict):
            raise RunDirError(f"{path / SWEEP_FILE}: not a JSON object")
        try:
            points, note = sweep_points(sweep, str(path))
        except PlanError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise RunDirError(
                f"{path / SWEEP_FILE}: a configuration lacks server.replicas or capacity"
            ) from exc
        return points, [note]
    if path.is_dir() and not (path / MANIFEST).is_file():
        runs = sorted(p for p in path.iterdir() if (p / MANIFEST).is_file())
        if runs:
            found: list[PlanPoint] = []
            notes: list[str] = []
            for run in runs:
                more, said = _run_point(run, warn)
                found += more
                notes += said
            return found, notes
    return _run_point(path, warn)


def _run_point(path: Path, warn: Callable[[str], None]) -> tuple[list[PlanPoint], list[str]]:
    report = build_report(read_inputs(path, None, warn))
    run = figures(str(path), report)
    if report.run.kind != "ramp":
        raise UsageError(f"{path} is a {report.run.kind} run: plan needs ramp runs (they find a capacity)")
    if not run.replicas:
        return [], [f"{path}: skipped, run.json records no replica count"]
    if run.capacity is None:
        return [], [f"{path}: skipped, its ramp found no capacity (even the first step failed)"]
    return [PlanPoint(str(path), run.replicas, float(run.capacity))], []
