"""A sweep's state (sweep.json, docs/SWEEP.md) and its warm start. Pure: values in, values out.

Each configuration moves pending -> running -> done | failed | interrupted; a resumed sweep skips the
done ones and runs the others again from scratch. The warm start predicts a configuration's bracket from
the capacities already found: the nearest done configuration's capacity (fewest differing settings),
scaled by the ratio of replica counts, as the pair (that many clients, one more).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from loadgen.core.errors import SetupError
from loadgen.core.matrix import ServerSettings, SweepConfig

PENDING, RUNNING, DONE, FAILED, INTERRUPTED = "pending", "running", "done", "failed", "interrupted"
STATUSES = (PENDING, RUNNING, DONE, FAILED, INTERRUPTED)
VERSION = 1
CONFIGS_DIR = "configs"


@dataclass(frozen=True)
class ConfigRun:
    """One configuration's place in the sweep: its status and, once its ramp ended, what it found."""

    config: SweepConfig
    status: str = PENDING
    started_at: float | None = None
    ended_at: float | None = None
    wall_s: float | None = None
    steps: int | None = None  # judged steps of its ramp
    bracket: tuple[int, int] | None = None  # the warm start's guess, None for a cold search
    capacity: float | None = None  # max concurrent connections (the median with --repeat)
    low: float | None = None  # the range over --repeat runs (capacity itself without)
    high: float | None = None
    first_failure: int | None = None
    error: str | None = None

    @property
    def run_dir(self) -> str:
        """Its ramp's run directory, relative to the sweep directory."""
        return f"{CONFIGS_DIR}/{self.config.id}"

    def to_json(self) -> dict[str, Any]:
        """The sweep.json form."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "config"}
        return {
            "id": self.config.id,
            "server": self.config.server.to_json_dict(),
            "workload": dict(self.config.workload),
            "ramp_args": list(self.config.ramp_args),
            "run_dir": self.run_dir,
            **data,
            "bracket": list(self.bracket) if self.bracket else None,
        }


@dataclass(frozen=True)
class RampResult:
    """What a configuration's ramp found, read from its run directory."""

    steps: int
    capacity: float | None
    low: float | None
    high: float | None
    first_failure: int | None
    error: str | None = None  # why no capacity was found (the ramp's reason), or why it did not run


@dataclass(frozen=True)
class SweepState:
    """The whole sweep, as sweep.json holds it."""

    matrix_file: str
    matrix: Mapping[str, Any]
    target: str
    target_info: Mapping[str, Any]
    started_at: float
    updated_at: float
    wall_s: float
    warm_start: bool
    repeat: int
    configs: tuple[ConfigRun, ...]

    def with_run(self, run: ConfigRun, now: float, wall_s: float) -> SweepState:
        """This state with `run` replacing the configuration of the same id."""
        runs = tuple(run if r.config.id == run.config.id else r for r in self.configs)
        return replace(self, configs=runs, updated_at=now, wall_s=round(wall_s, 3))

    def best(self) -> str | None:
        """The done configuration of the largest capacity (the first in matrix order on a tie)."""
        done = [r for r in self.configs if r.status == DONE and r.capacity is not None]
        return max(done, key=lambda r: r.capacity or 0).config.id if done else None

    def to_json(self) -> dict[str, Any]:
        """The sweep.json form."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "configs"}
        return {
            "version": VERSION,
            **data,
            "matrix": dict(self.matrix),
            "target_info": dict(self.target_info),
            "configs": [r.to_json() for r in self.configs],
            "best": self.best(),
        }


def start(run: ConfigRun, now: float, bracket: tuple[int, int] | None) -> ConfigRun:
    """The configuration's ramp starts (again, from scratch)."""
    return replace(ConfigRun(run.config), status=RUNNING, started_at=now, bracket=bracket)


def finish(run: ConfigRun, now: float, result: RampResult) -> ConfigRun:
    """Its ramp ended: done with a capacity, failed without one."""
    status = DONE if result.capacity is not None else FAILED
    wall = round(now - (run.started_at or now), 3)
    return replace(run, status=status, ended_at=now, wall_s=wall, **asdict(result))  # same field names


def fail(run: ConfigRun, now: float, error: str, status: str = FAILED) -> ConfigRun:
    """It could not run (deploy or readiness failed), or was interrupted."""
    wall = round(now - run.started_at, 3) if run.started_at is not None else None
    return replace(run, status=status, ended_at=now, wall_s=wall, error=error)


def resume(
    previous: Mapping[str, Any], configs: Sequence[SweepConfig], matrix: Mapping[str, Any]
) -> tuple[ConfigRun, ...]:
    """The configurations of an existing sweep.json: done ones kept, every other one pending again.
    SetupError when that sweep was of another matrix."""
    if previous.get("version") != VERSION or previous.get("matrix") != dict(matrix):
        raise SetupError(
            "the sweep directory holds a sweep of another matrix (sweep.json differs): use a new --out"
        )
    done = {c["id"]: c for c in previous.get("configs", []) if c.get("status") == DONE}
    return tuple(
        _restored(config, done[config.id]) if config.id in done else ConfigRun(config) for config in configs
    )


def _restored(config: SweepConfig, data: Mapping[str, Any]) -> ConfigRun:
    bracket = data.get("bracket")
    return ConfigRun(
        config,
        status=DONE,
        started_at=data.get("started_at"),
        ended_at=data.get("ended_at"),
        wall_s=data.get("wall_s"),
        steps=data.get("steps"),
        bracket=(int(bracket[0]), int(bracket[1])) if bracket else None,
        capacity=data.get("capacity"),
        low=data.get("low"),
        high=data.get("high"),
        first_failure=data.get("first_failure"),
        error=data.get("error"),
    )


def predict_bracket(
    settings: ServerSettings,
    workload: Sequence[tuple[str, str]],
    found: Sequence[ConfigRun],
    max_clients: int,
) -> tuple[int, int] | None:
    """The guessed (pass, fail) pair for this configuration, or None (a cold search): the knee predicted
    from the nearest done configuration, and one more client. `BracketSearch` gallops away from a wrong
    guess, so a guess one off costs one step."""
    known = [r for r in found if r.status == DONE and r.capacity]
    if not known or max_clients < 2:
        return None
    nearest = min(known, key=lambda r: _distance(settings, workload, r.config))
    guess = (nearest.capacity or 0) * settings.replicas / nearest.config.server.replicas
    low = min(max(1, math.floor(guess)), max_clients - 1)
    return low, low + 1


def _distance(settings: ServerSettings, workload: Sequence[tuple[str, str]], other: SweepConfig) -> int:
    """How far another configuration is: 10 per differing setting or workload flag, plus the difference
    of replica counts (the prediction scales by them)."""
    mine, theirs = asdict(settings), asdict(other.server)
    differ = sum(mine[k] != theirs[k] for k in mine if k != "replicas") + len(
        set(workload) ^ set(other.workload)
    )
    return 10 * differ + abs(settings.replicas - other.server.replicas)
