"""Where a sweep restarts the replicas: the `Target` interface a sweep drives, one per deployment kind.

`local` and `simulator` run the local stack through a process boundary (`python -m stack up|down`, as
chaos does: loadgen never imports stack); `compose` and `kubernetes` restart Compose services and
Kubernetes Deployments (their own modules).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

from loadgen.core.errors import EXIT_FAILED, UsageError, UserError
from loadgen.core.matrix import BATCH, ServerSettings

LOCAL, SIMULATOR, COMPOSE, KUBERNETES = "local", "simulator", "compose", "kubernetes"
TARGETS = (LOCAL, SIMULATOR, COMPOSE, KUBERNETES)
# The local stack's ports move with its balancer's (docs/PORTS.md): Prometheus 2 above it, and the port it
# scrapes a load generator on 4 above.
PROMETHEUS_OFFSET, LOADGEN_METRICS_OFFSET = 2, 4


class TargetError(UserError):
    """A deployment that could not be (re)started or stopped: one line."""

    exit_code = EXIT_FAILED


class Target(Protocol):
    """A deployment a sweep restarts with each configuration's settings."""

    name: str

    def deploy(self, settings: ServerSettings) -> str:
        """(Re)start the replicas with these settings; return the ws:// URL to load."""

    def stop(self) -> None:
        """Stop what deploy started (idempotent)."""

    def describe(self) -> dict[str, Any]:
        """For sweep.json: host cores/GPU where known, paths. Its `prometheus_url` (and
        `loadgen_metrics_port`), when present, go to every ramp (--prometheus-url, --metrics-port)."""


@dataclass(frozen=True)
class SimulatorModel:
    """The simulator target's replicas (docs/SWEEP.md, the matrix's `[simulator]` table): a single-mode
    replica holds `capacity` streams at `base_lag_s`, a batch replica `batch_max_size` of them (or
    `batch_capacity` without one); each stream beyond adds `per_stream_lag_s`. With the SLO between
    `base_lag_s` and `base_lag_s + per_stream_lag_s`, a configuration's knee is known exactly:
    `replicas x` the per-replica capacity (`knee`), the balancer spreading streams evenly (least_conn)."""

    capacity: int = 2
    batch_capacity: int = 4
    base_lag_s: float = 0.1
    per_stream_lag_s: float = 1.0
    audio_dir: str = "test_audio/corpus"

    @classmethod
    def from_matrix(cls, table: Any) -> SimulatorModel:
        """The `[simulator]` table (absent: the defaults); UsageError on an unknown or bad key."""
        table = table or {}
        known = {f.name for f in fields(cls)}
        if not isinstance(table, Mapping) or set(table) - known:
            raise UsageError(f"matrix [simulator]: a table of the keys {', '.join(sorted(known))}")
        model = cls(**table)
        if min(model.capacity, model.batch_capacity) < 1 or min(model.base_lag_s, model.per_stream_lag_s) < 0:
            raise UsageError("matrix [simulator]: capacities must be at least 1 and lags at least 0")
        return model

    def per_replica(self, settings: ServerSettings) -> int:
        """Streams one replica of these settings holds at the base lag."""
        if settings.mode == BATCH:
            return settings.batch_max_size or self.batch_capacity
        return self.capacity

    def knee(self, settings: ServerSettings) -> int:
        """The configuration's true capacity."""
        return settings.replicas * self.per_replica(settings)

    def stack_args(self, settings: ServerSettings) -> tuple[str, ...]:
        """`python -m stack up` flags of its simulator replicas (room for twice their capacity, so the
        knee is the lag's, not refusals')."""
        capacity = self.per_replica(settings)
        return (
            *("--backend", "simulator", "--audio-dir", self.audio_dir, "--capacity", str(capacity)),
            *("--base-lag", f"{self.base_lag_s:g}", "--per-stream-lag", f"{self.per_stream_lag_s:g}"),
            *("--max-clients", str(settings.max_clients or 2 * capacity + 2)),
        )


@dataclass
class StackTarget:
    """The local stack, through `python -m stack up|down` (loadgen never imports stack): real WhisperLive
    replicas (`local`) or simulators (`simulator`, with a `SimulatorModel`). One stack directory, reused
    by every configuration; `stack.log` there keeps every up and down's output."""

    run_dir: Path
    base_port: int
    simulator: SimulatorModel | None = None
    ready_timeout_s: float = 300.0
    name: str = field(init=False)

    def __post_init__(self) -> None:
        self.name = LOCAL if self.simulator is None else SIMULATOR
        self.run_dir = self.run_dir.resolve()

    @property
    def log(self) -> Path:
        """Where the stack commands' output goes."""
        return self.run_dir.parent / "stack.log"

    def deploy(self, settings: ServerSettings) -> str:
        """Stop what runs, start `settings.replicas` replicas with its flags, wait (the stack waits for
        every replica and nginx); the balancer's URL."""
        self.stop()
        flags = self.simulator.stack_args(settings) if self.simulator else settings.serve_args()
        self._stack(
            "up",
            *("--replicas", str(settings.replicas), "--base-port", str(self.base_port)),
            *("--ready-timeout", f"{self.ready_timeout_s:g}", *flags),
        )
        return f"ws://127.0.0.1:{self.base_port}"

    def stop(self) -> None:
        """`python -m stack down` when a stack was started (idempotent)."""
        if (self.run_dir / "stack.json").is_file():
            self._stack("down")
            (self.run_dir / "stack.json").unlink(missing_ok=True)

    def describe(self) -> dict[str, Any]:
        """The host's cores and where the stack runs."""
        info: dict[str, Any] = {
            "cpus": os.cpu_count(),
            "stack_dir": str(self.run_dir),
            "base_port": self.base_port,
            "prometheus_url": f"http://127.0.0.1:{self.base_port + PROMETHEUS_OFFSET}",
            "loadgen_metrics_port": self.base_port + LOADGEN_METRICS_OFFSET,
        }
        if self.simulator:
            info["simulator"] = asdict(self.simulator)
        return info

    def _stack(self, command: str, *flags: str) -> None:
        argv = [sys.executable, "-m", "stack", command, *flags, "--run-dir", str(self.run_dir)]
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("a") as out:
            out.write(f"$ {' '.join(argv[1:])}\n")
            out.flush()
            done = subprocess.run(argv, stdout=out, stderr=subprocess.PIPE, text=True, check=False)
            out.write(done.stderr)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
            raise TargetError(f"`python -m stack {command}` failed: {last} (see {self.log})")
