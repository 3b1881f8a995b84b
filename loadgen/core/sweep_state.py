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
    error: str | None = None  # why it found no capacity (done), or why it did not finish
    baseline_wer: float | None = None  # --baseline-wer given to its ramp (a warm start), else None
    baseline_from: str | None = None  # the configuration whose 1-client step measured it

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
    judged: bool = True  # whether the ramp wrote an outcome (False: it crashed or never ran)


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
        """The done configuration of the largest capacity (`rank_key`: a tie goes to fewer replicas, then
        matrix order), as the comparison report names it."""
        done = [(i, r) for i, r in enumerate(self.configs) if r.status == DONE and r.capacity is not None]
        key = lambda ir: rank_key(ir[1].capacity, ir[1].config.server.replicas, ir[0])  # noqa: E731
        return min(done, key=key)[1].config.id if done else None

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


def rank_key(capacity: float | None, replicas: int | None, order: int) -> tuple[float, int, int]:
    """Sort key of the best configuration first: the largest capacity, then fewer replicas, then matrix
    order. The one rule of sweep.json's `best` and the comparison report's."""
    return -(capacity or 0), replicas or 0, order


def start(
    run: ConfigRun,
    now: float,
    bracket: tuple[int, int] | None,
    baseline: tuple[float, str] | None = None,
) -> ConfigRun:
    """The configuration's ramp starts (again, from scratch), with its warm start: a bracket and a
    baseline WER (the value, and the configuration that measured it)."""
    wer, source = baseline if baseline else (None, None)
    return replace(
        ConfigRun(run.config),
        status=RUNNING,
        started_at=now,
        bracket=bracket,
        baseline_wer=wer,
        baseline_from=source,
    )


def finish(run: ConfigRun, now: float, result: RampResult) -> ConfigRun:
    """Its ramp ended. Done when it judged a step and wrote an outcome, whether it found a capacity or
    not (then `error` says why: a finished measurement, not rerun on resume); failed otherwise."""
    status = DONE if result.judged and result.steps > 0 else FAILED
    wall = round(now - (run.started_at or now), 3)
    found = {k: v for k, v in asdict(result).items() if k != "judged"}  # ConfigRun's field names
    return replace(run, status=status, ended_at=now, wall_s=wall, **found)


def baseline_sources(config: SweepConfig, runs: Sequence[ConfigRun]) -> list[ConfigRun]:
    """The done configurations whose 1-client WER can be this one's baseline: the same model and
    workload (the transcripts' accuracy depends on nothing else the matrix sets), in matrix order."""
    return [
        r
        for r in runs
        if r.status == DONE
        and r.config.id != config.id
        and r.config.server.model == config.server.model
        and r.config.workload == config.workload
    ]


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
        baseline_wer=data.get("baseline_wer"),
        baseline_from=data.get("baseline_from"),
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
