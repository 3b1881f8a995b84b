"""Reading one run directory (and Prometheus) into `RunInputs`: the report's input edge.

Resources come from Prometheus when a URL is given and it answers; otherwise from the summary.json an
earlier report wrote, so re-rendering a report never loses what was measured.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from loadgen.core.errors import EXIT_SETUP, UsageError, UserError
from loadgen.core.records import StepRecord
from loadgen.core.shards import merge_steps
from loadgen.core.verdict import Thresholds
from loadgen.data.run_dir import EVENTS, MANIFEST, STEPS, SUMMARY, RunDir
from loadgen.report.edge.resources import fetch_resources, windows_of
from loadgen.report.model.report import RunInputs
from loadgen.report.model.usage import StepResources, resources_from_json


class RunDirError(UserError):
    """The run directory exists but its files cannot be read as documented in docs/RUN_DIR.md."""

    exit_code = EXIT_SETUP


def _run_dir(path: Path) -> RunDir:
    if not path.is_dir():
        raise UsageError(f"run directory {path} does not exist; pass the directory a ramp or soak wrote")
    if not (path / MANIFEST).is_file():
        raise UsageError(f"{path} is not a run directory (no {MANIFEST}); pass the directory a ramp wrote")
    return RunDir(path)


def stored_resources(path: Path) -> dict[int, StepResources]:
    """The resources an earlier report saved in summary.json (empty when there is none)."""
    try:
        data = json.loads((path / SUMMARY).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return resources_from_json(data.get("resources") if isinstance(data, dict) else None)


def manifest_prometheus(path: Path) -> str | None:
    """The prometheus_url the run recorded (None when absent or unreadable: `read_inputs` says why)."""
    try:
        url = json.loads((path / MANIFEST).read_text(encoding="utf-8")).get("prometheus_url")
    except (OSError, ValueError, AttributeError):
        return None
    return url if isinstance(url, str) and url else None


def read_inputs(path: Path, prometheus_url: str | None, warn: Callable[[str], None]) -> RunInputs:
    """Manifest, steps, sessions, events (shards merged, torn last lines skipped) and resources."""
    run_dir = _run_dir(path)
    try:
        manifest = run_dir.read_manifest()
        if not isinstance(manifest, dict):
            raise UsageError(f"{path / MANIFEST}: not a JSON object")
        lines, steps_torn = run_dir.read_records(STEPS)
        events, events_torn = run_dir.read_records(EVENTS)
        sessions, sessions_torn = run_dir.read_sessions()
    except UsageError as exc:
        raise RunDirError(f"{exc}; the run directory is damaged") from exc
    torn = [
        name for name, t in ((STEPS, steps_torn), (EVENTS, events_torn), ("sessions", sessions_torn)) if t
    ]
    warnings = []
    steps = [StepRecord.from_json(line) for line in lines]
    resources = stored_resources(path)
    if prometheus_url:
        fetched, warning = fetch_resources(prometheus_url, windows_of(steps))
        if warning:
            warn(warning)
            warnings.append(warning)
        else:
            resources = fetched
    manifest = with_local_host_cpus(manifest)
    steps = merge_steps(steps, _thresholds(manifest))
    return RunInputs(str(path), manifest, steps, sessions, events, resources, torn, warnings)


def _thresholds(manifest: dict[str, Any]) -> Thresholds:
    """The thresholds the run was judged by (defaults where run.json does not say)."""
    recorded = (manifest.get("profile") or {}).get("thresholds") or {}
    return Thresholds(**{k: v for k, v in recorded.items() if k in Thresholds.names()})


def with_local_host_cpus(manifest: dict[str, Any]) -> dict[str, Any]:
    """A run against a loopback target ran its replicas on this machine: without a recorded `host_cpus`,
    this machine's core count is the replicas' host allotment."""
    if manifest.get("host_cpus") is not None:
        return manifest
    host = urlsplit(str(manifest.get("url") or "")).hostname or ""
    try:
        local = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        local = False
    return {**manifest, "host_cpus": os.cpu_count()} if local else manifest
