"""A sweep directory's comparison report: reads sweep.json and each configuration's run directory, writes
sweep_report.md, sweep_report.html, sweep_report.json and sweep_capacity.png into the sweep directory.

`write_sweep_report(sweep_dir)` is what `loadgen sweep` calls at its end and `loadgen report DIR` calls on
a directory holding sweep.json. Resources come from each run's summary.json (what its own report saved
from Prometheus); Prometheus is not queried again. The host's cores are target_info's `host_cpus` (or
`cpus`), its GPUs target_info's `gpus` (a list, one entry per GPU, or a count).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from loadgen.core.errors import UsageError, UserError
from loadgen.data.results_file import write_json
from loadgen.data.run_dir import MANIFEST, SWEEP_JSON
from loadgen.report.edge.inputs import RunDirError, read_inputs
from loadgen.report.edge.output import warn_stderr, write_text
from loadgen.report.model.report import RunInputs
from loadgen.report.model.sweep import (
    SweepConfig,
    SweepInfo,
    SweepInputs,
    SweepReport,
    build_sweep_report,
)
from loadgen.report.render.html import render_sweep_html
from loadgen.report.render.markdown import render_sweep_md
from loadgen.report.render.plots import capacity_plot

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


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float) and value != ""


def _text(value: str | float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


_OPTIONAL = {"int | None": _int, "float | None": _num, "str | None": _str}


def _optional_fields(cls: type[Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """The optional fields of dataclass `cls` read from `data`: a missing or mistyped value is None."""
    return {f.name: _OPTIONAL[str(f.type)](data.get(f.name)) for f in fields(cls) if str(f.type) in _OPTIONAL}


def _config(data: Any, where: str) -> SweepConfig:
    c = _object(data)
    config_id = _str(c.get("id"))
    if config_id is None:
        raise RunDirError(f"{where}: a configuration without an id; the sweep directory is damaged")
    server = _object(c.get("server"))
    return SweepConfig(
        id=config_id,
        server={str(k): _text(v) for k, v in server.items() if _scalar(v)},
        workload={str(k): str(v) for k, v in _object(c.get("workload")).items()},
        status=_str(c.get("status")) or "pending",
        **_optional_fields(SweepConfig, {**c, "replicas": server.get("replicas")}),
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


def _gpus(value: Any) -> tuple[str, ...]:
    """target_info's GPUs: a list (one entry, e.g. a name, per GPU) or a count."""
    if isinstance(value, list):
        return tuple(str(g) for g in value)
    return tuple(str(i) for i in range(_int(value) or 0))


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
    sweep = SweepInfo(
        path=str(path),
        gpus=_gpus(info.get("gpus")),
        repeat=_int(data.get("repeat")) or 1,
        **_optional_fields(SweepInfo, {**data, "host_cpus": info.get("host_cpus", info.get("cpus"))}),
    )
    return SweepInputs(sweep, configs, runs, unreadable)


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
