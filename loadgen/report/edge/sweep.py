"""A sweep directory's comparison report: reads sweep.json and each configuration's run directory, writes
sweep_report.md, sweep_report.html, sweep_report.json and sweep_capacity.png into the sweep directory.

`write_sweep_report(sweep_dir)` is what `loadgen sweep` calls at its end and `loadgen report DIR` calls on
a directory holding sweep.json. Resources come from each run's summary.json (what its own report saved
from Prometheus); Prometheus is not queried again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from loadgen.core.errors import UsageError, UserError
from loadgen.data.results_file import write_json
from loadgen.data.run_dir import MANIFEST
from loadgen.report.edge.inputs import RunDirError, read_inputs
from loadgen.report.edge.output import warn_stderr, write_text
from loadgen.report.model.report import RunInputs
from loadgen.report.model.sweep import (
    ServerSettings,
    SweepConfig,
    SweepInputs,
    SweepReport,
    build_sweep_report,
)
from loadgen.report.render.html import render_sweep_html
from loadgen.report.render.markdown import render_sweep_md
from loadgen.report.render.plots import capacity_plot

SWEEP_JSON = "sweep.json"
SWEEP_MD, SWEEP_HTML, SWEEP_REPORT_JSON, SWEEP_PLOT = (
    "sweep_report.md",
    "sweep_report.html",
    "sweep_report.json",
    "sweep_capacity.png",
)


def is_sweep_dir(path: Path) -> bool:
    """Whether `path` is a sweep directory (it holds sweep.json)."""
    return (path / SWEEP_JSON).is_file()


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _int(value: Any) -> int | None:
    number = _num(value)
    return None if number is None else int(number)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _server(data: Any) -> ServerSettings:
    s = _object(data)
    return ServerSettings(
        mode=_str(s.get("mode")),
        replicas=_int(s.get("replicas")),
        batch_max_size=_int(s.get("batch_max_size")),
        batch_max_queue_wait_s=_num(s.get("batch_max_queue_wait_s")),
        model=_str(s.get("model")),
        compute_type=_str(s.get("compute_type")),
        omp_threads=_int(s.get("omp_threads")),
        max_clients=_int(s.get("max_clients")),
    )


def _config(data: Any, where: str) -> SweepConfig:
    c = _object(data)
    config_id = _str(c.get("id"))
    if config_id is None:
        raise RunDirError(f"{where}: a configuration without an id; the sweep directory is damaged")
    return SweepConfig(
        id=config_id,
        server=_server(c.get("server")),
        workload={str(k): str(v) for k, v in _object(c.get("workload")).items()},
        status=_str(c.get("status")) or "pending",
        run_dir=_str(c.get("run_dir")),
        capacity=_num(c.get("capacity")),
        low=_num(c.get("low")),
        high=_num(c.get("high")),
        error=_str(c.get("error")),
        wall_s=_num(c.get("wall_s")),
    )


def _sweep_json(path: Path) -> Mapping[str, Any]:
    try:
        data = json.loads((path / SWEEP_JSON).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{path} is not a sweep directory ({exc.strerror}: {SWEEP_JSON})") from exc
    except ValueError as exc:
        raise RunDirError(f"{path / SWEEP_JSON}: not JSON ({exc}); the sweep directory is damaged") from exc
    if not isinstance(data, Mapping) or not isinstance(data.get("configs"), list):
        raise RunDirError(
            f"{path / SWEEP_JSON}: not a sweep (no configs list); the sweep directory is damaged"
        )
    return data


def read_sweep(path: Path, warn: Callable[[str], None]) -> SweepInputs:
    """sweep.json and every configuration's run directory that holds a run.json (unreadable ones named)."""
    data = _sweep_json(path)
    configs = [_config(c, f"{path / SWEEP_JSON} configs[{i}]") for i, c in enumerate(data["configs"])]
    runs: dict[str, RunInputs] = {}
    unreadable: dict[str, str] = {}
    for config in configs:
        run_dir = path / (config.run_dir or f"configs/{config.id}")
        if not (run_dir / MANIFEST).is_file():
            continue
        try:
            runs[config.id] = read_inputs(run_dir, None, warn)
        except UserError as exc:
            unreadable[config.id] = str(exc)
            warn(f"{config.id}: {exc}")
    info = _object(data.get("target_info"))
    gpus = info.get("gpus")
    return SweepInputs(
        path=str(path),
        matrix_file=_str(data.get("matrix_file")),
        target=_str(data.get("target")),
        host_cpus=_num(info.get("host_cpus")),
        gpus=tuple(str(g) for g in gpus) if isinstance(gpus, list) else (),
        repeat=_int(data.get("repeat")) or 1,
        started_at=_num(data.get("started_at")),
        updated_at=_num(data.get("updated_at")),
        wall_s=_num(data.get("wall_s")),
        recorded_best=_str(data.get("best")),
        configs=configs,
        runs=runs,
        unreadable=unreadable,
    )


def write_sweep_report(sweep_dir: Path, warn: Callable[[str], None] = warn_stderr) -> SweepReport:
    """Read the sweep directory, write sweep_report.md/.html/.json and sweep_capacity.png into it, and
    return the comparison (its `decision.best` is None when no configuration found a capacity)."""
    sweep = build_sweep_report(read_sweep(sweep_dir, warn))
    png = capacity_plot(sweep.configs, sweep.decision.best)
    if png is not None:
        (sweep_dir / SWEEP_PLOT).write_bytes(png)
    write_json(sweep_dir / SWEEP_REPORT_JSON, sweep.to_json_dict())
    write_text(sweep_dir / SWEEP_MD, render_sweep_md(sweep, SWEEP_PLOT if png is not None else None))
    write_text(sweep_dir / SWEEP_HTML, render_sweep_html(sweep, png))
    return sweep
