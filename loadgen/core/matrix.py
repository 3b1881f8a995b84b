"""A sweep's matrix (docs/SWEEP.md): server settings x workload, expanded into configurations. Pure.

The matrix is a mapping (parsed from TOML or YAML at the edge) with a `[server]` table of axes, a
`[workload]` table of ramp-flag axes and an optional `exclude` list. Each axis is a scalar or a list; the
configurations are their product, in the order the axes are written. Batch settings apply to batch mode
only: a single-mode configuration drops them, and configurations that become equal are kept once.
`omp_cores = C` shares C cores among a configuration's replicas: each gets `omp_threads = max(1, C //
replicas)`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from loadgen.core.errors import UsageError

SINGLE, BATCH = "single", "batch"
MODES = (SINGLE, BATCH)
OMP_CORES = "omp_cores"  # derived axis: omp_threads = max(1, omp_cores // replicas)
SECTIONS = ("sweep", "ramp", "server", "workload", "exclude", "simulator", "compose", "kubernetes")
_SLUG = re.compile(r"[^a-z0-9._-]+")


@dataclass(frozen=True)
class ServerSettings:
    """One deployment's settings: what every replica runs, and how many replicas."""

    mode: str = SINGLE  # "single" | "batch"
    replicas: int = 1
    batch_max_size: int | None = None
    batch_max_queue_wait_s: float | None = None
    model: str = "tiny.en"
    compute_type: str | None = None
    omp_threads: int | None = None
    max_clients: int | None = None

    def serve_args(self) -> tuple[str, ...]:
        """The `whisperlive serve` flags of one replica (not --replicas)."""
        optional: tuple[tuple[str, object], ...] = (
            ("--model", self.model),
            ("--compute-type", self.compute_type),
            ("--omp-threads", self.omp_threads),
            ("--max-clients", self.max_clients),
            ("--batch", self.mode == BATCH or None),
            ("--batch-max-size", self.batch_max_size),
            ("--batch-max-queue-wait-s", self.batch_max_queue_wait_s),
        )
        args: list[str] = []
        for flag, value in optional:
            if value is True:
                args.append(flag)
            elif value is not None:
                args += [flag, _text(value)]
        return tuple(args)

    def to_json_dict(self) -> dict[str, Any]:
        """The sweep.json form."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> ServerSettings:
        """The settings from their sweep.json form (or a matrix's scalars); UsageError when malformed."""
        if not isinstance(data, Mapping):
            raise UsageError(f"server settings: expected a table, got {data!r}")
        known = {f.name for f in fields(cls)}
        if unknown := sorted(set(data) - known):
            raise UsageError(f"server settings: unknown key(s) {', '.join(unknown)}; use {', '.join(known)}")
        settings = cls(**data)
        if problem := settings.problem():
            raise UsageError(f"server settings: {problem}")
        return settings

    def problem(self) -> str | None:
        """Why these settings are unusable (one line), or None."""
        checks = (
            (self.mode in MODES, f"mode {self.mode!r}: use {' or '.join(MODES)}"),
            (_int(self.replicas) and self.replicas >= 1, f"replicas {self.replicas!r}: use an integer >= 1"),
            (_opt_int(self.batch_max_size), f"batch_max_size {self.batch_max_size!r}: use an integer >= 1"),
            (
                _opt_positive(self.batch_max_queue_wait_s),
                f"batch_max_queue_wait_s {self.batch_max_queue_wait_s!r}: use a number > 0",
            ),
            (isinstance(self.model, str) and bool(self.model), f"model {self.model!r}: use a model name"),
            (
                self.compute_type is None or isinstance(self.compute_type, str),
                f"compute_type {self.compute_type!r}: use a name like int8 or float16",
            ),
            (_opt_int(self.omp_threads), f"omp_threads {self.omp_threads!r}: use an integer >= 1"),
            (_opt_int(self.max_clients), f"max_clients {self.max_clients!r}: use an integer >= 1"),
        )
        return next((message for ok, message in checks if not ok), None)


@dataclass(frozen=True)
class SweepConfig:
    """One configuration of a sweep: its settings, its workload and the ramp flags that carry it."""

    id: str  # stable slug, e.g. "batch-b8-r3" (+ workload suffix); a directory name
    server: ServerSettings
    workload: tuple[tuple[str, str], ...]  # ordered (flag, value) pairs from the matrix's workload axes
    ramp_args: tuple[str, ...]  # the ramp flags this config adds (workload axes as flags)


def expand(matrix: Mapping[str, Any]) -> tuple[SweepConfig, ...]:
    """Every configuration of the matrix, in axis order; UsageError with one clear line on bad input."""
    if not isinstance(matrix, Mapping):
        raise UsageError("matrix: expected a table of sections ([server], [workload], ...)")
    if unknown := sorted(set(matrix) - set(SECTIONS)):
        raise UsageError(f"matrix: unknown section(s) {', '.join(unknown)}; use {', '.join(SECTIONS)}")
    server_axes = _axes(matrix.get("server", {}), "server")
    workload_axes = _axes(matrix.get("workload", {}), "workload")
    _check_server_keys(server_axes)
    excludes = _excludes(matrix.get("exclude", []), {**server_axes, **workload_axes})
    varying = _varying(server_axes)
    configs: dict[str, SweepConfig] = {}
    for server_values in _product(server_axes):
        settings = _settings(server_values)
        for workload_values in _product(workload_axes):
            if any(_matches(rule, settings, workload_values) for rule in excludes):
                continue
            config = _config(settings, workload_values, varying, workload_axes)
            if config.id in configs and configs[config.id] != config:
                raise UsageError(f"matrix: two configurations named {config.id}; make an axis differ")
            configs[config.id] = config
    if not configs:
        raise UsageError("matrix: no configuration left (every one excluded, or an axis is an empty list)")
    return tuple(configs.values())


def _axes(section: Any, name: str) -> dict[str, list[Any]]:
    if not isinstance(section, Mapping):
        raise UsageError(f"matrix [{name}]: expected a table of axes, got {section!r}")
    axes: dict[str, list[Any]] = {}
    for key, value in section.items():
        values = list(value) if isinstance(value, list | tuple) else [value]
        bad = [v for v in values if not isinstance(v, str | int | float | bool)]
        if bad:
            raise UsageError(
                f"matrix [{name}] {key}: values must be scalars or a list of them, got {bad[0]!r}"
            )
        axes[str(key)] = values
    return axes


def _check_server_keys(axes: Mapping[str, list[Any]]) -> None:
    known = [f.name for f in fields(ServerSettings)] + [OMP_CORES]
    if unknown := sorted(set(axes) - set(known)):
        raise UsageError(f"matrix [server]: unknown key(s) {', '.join(unknown)}; use {', '.join(known)}")
    if OMP_CORES in axes and "omp_threads" in axes:
        raise UsageError("matrix [server]: omp_cores and omp_threads both given; use one")
    if "compute_type" in axes:
        raise UsageError(
            "matrix [server] compute_type: `whisperlive serve` takes no --compute-type yet (upstream picks "
            "int8 on CPU, float16 on a GPU); remove the axis"
        )


def _excludes(rules: Any, axes: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    if isinstance(rules, Mapping):
        rules = [rules]
    if not isinstance(rules, list) or not all(isinstance(r, Mapping) and r for r in rules):
        raise UsageError('matrix exclude: expected a list of tables like {mode = "single", replicas = 3}')
    for rule in rules:
        if unknown := sorted(set(rule) - set(axes) - {f.name for f in fields(ServerSettings)}):
            raise UsageError(f"matrix exclude: unknown key(s) {', '.join(unknown)}; use the axes' names")
    return [dict(rule) for rule in rules]


def _varying(axes: Mapping[str, list[Any]]) -> set[str]:
    """The server fields that differ between configurations (they name them)."""
    names = {key for key, values in axes.items() if len(set(map(repr, values))) > 1}
    if OMP_CORES in names:
        names = (names - {OMP_CORES}) | {"omp_threads"}
    return names


def _product(axes: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    return [dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())]


def _settings(values: Mapping[str, Any]) -> ServerSettings:
    values = dict(values)
    cores = values.pop(OMP_CORES, None)
    if cores is not None:
        if not _int(cores) or cores < 1:
            raise UsageError(f"matrix [server] omp_cores {cores!r}: use an integer >= 1")
        replicas = values.get("replicas", 1)
        values["omp_threads"] = max(1, cores // replicas) if _int(replicas) and replicas >= 1 else None
    settings = ServerSettings.from_json(values)
    if settings.mode == SINGLE:
        settings = replace(settings, batch_max_size=None, batch_max_queue_wait_s=None)
    return settings


def _matches(rule: Mapping[str, Any], settings: ServerSettings, workload: Mapping[str, Any]) -> bool:
    mine = {**asdict(settings), **workload}
    return all(key in mine and mine[key] == value for key, value in rule.items())


def _config(
    settings: ServerSettings, workload: Mapping[str, Any], varying: set[str], axes: Mapping[str, list[Any]]
) -> SweepConfig:
    pairs: list[tuple[str, str]] = []
    args: list[str] = []
    for key, value in workload.items():
        flag = "--" + key.removeprefix("--")
        pairs.append((flag, _text(value)))
        if value is True:
            args.append(flag)
        elif value is not False:
            args += [flag, _text(value)]
    suffix = [f"{key.removeprefix('--')}{_text(workload[key])}" for key in axes if len(axes[key]) > 1]
    return SweepConfig(_slug(settings, varying, suffix), settings, tuple(pairs), tuple(args))


def _slug(settings: ServerSettings, varying: set[str], suffix: Sequence[str]) -> str:
    s = settings
    parts = [s.mode]
    named = (
        ("batch_max_size", "b", s.batch_max_size),
        ("batch_max_queue_wait_s", "q", s.batch_max_queue_wait_s),
        ("model", "", s.model),
        ("omp_threads", "t", s.omp_threads),
        ("max_clients", "c", s.max_clients),
        ("replicas", "r", s.replicas),
    )
    parts += [
        f"{prefix}{_text(value)}" for name, prefix, value in named if name in varying and value is not None
    ]
    return "-".join(_SLUG.sub("_", part.lower()) for part in (*parts, *suffix))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _opt_int(value: Any) -> bool:
    return value is None or (_int(value) and value >= 1)


def _opt_positive(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool) and value > 0)
