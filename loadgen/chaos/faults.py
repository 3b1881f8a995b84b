"""Fault injection: kill, pause or restart one replica during a step, and log it to events.jsonl.

`parse_chaos` (pure) reads a `--chaos` spec; `LocalChaos` acts on the local stack's processes (SIGKILL,
SIGSTOP/SIGCONT, restart) through `python -m stack replica ACTION N --run-dir DIR`, `ComposeChaos` on
Compose containers through the Docker SDK (selected by the `com.docker.compose.service` and
`com.docker.compose.container-number` labels). Both act across a process boundary: loadgen never
imports `stack` (pyproject.toml's import contracts), which itself imports `whisperlive` and `loadgen`.
`inject` runs one spec on a schedule and appends every action to the run's `events.jsonl`
(docs/RUN_DIR.md).

Specs: `ACTION-replica[:N]@T[:DURATION]`, ACTION one of kill, pause, restart; N the replica (from 1,
default 1); T seconds after the step starts; DURATION (pause only, default 10) seconds until SIGCONT.
Examples: `kill-replica@20`, `kill-replica:2@20`, `pause-replica:3@15:8`, `restart-replica@30`.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from loadgen.core.errors import ServerUnreachable, UsageError
from loadgen.core.protocol import REPLICA_PREFIX, replica_name

KILL, PAUSE, RESUME, RESTART = "kill", "pause", "resume", "restart"
ACTIONS = (KILL, PAUSE, RESTART)
DEFAULT_PAUSE_S = 10.0
COMPOSE_SERVICE = REPLICA_PREFIX  # Compose names replica N `whisperlive-N` too
_SPEC = re.compile(
    r"^(?P<action>[a-z]+)-replica(?::(?P<replica>\d+))?@(?P<at>[0-9.]+)(?::(?P<duration>[0-9.]+))?$"
)
EventSink = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class ChaosSpec:
    """One fault: what, on which replica (from 1), when (seconds after the step starts), how long."""

    action: str
    at_s: float
    replica: int = 1
    duration_s: float | None = None  # pause: seconds until resumed

    def __str__(self) -> str:
        tail = f":{self.duration_s:g}" if self.duration_s is not None else ""
        return f"{self.action}-replica:{self.replica}@{self.at_s:g}{tail}"


def parse_chaos(text: str) -> ChaosSpec:
    """A `--chaos` spec; a usage error names what is wrong with it."""
    match = _SPEC.match(text.strip())
    hint = "expected ACTION-replica[:N]@SECONDS[:PAUSE_SECONDS], e.g. kill-replica:2@20"
    if match is None:
        raise UsageError(f"--chaos {text!r}: {hint}")
    action = match["action"]
    if action not in ACTIONS:
        raise UsageError(f"--chaos {text!r}: unknown action {action!r}; use one of {', '.join(ACTIONS)}")
    try:
        at_s = float(match["at"])
        duration = float(match["duration"]) if match["duration"] else None
    except ValueError as exc:
        raise UsageError(f"--chaos {text!r}: {hint}") from exc
    replica = int(match["replica"] or 1)
    if replica < 1:
        raise UsageError(f"--chaos {text!r}: replicas are numbered from 1")
    if duration is not None and action != PAUSE:
        raise UsageError(f"--chaos {text!r}: only pause takes a duration")
    if action == PAUSE and duration is None:
        duration = DEFAULT_PAUSE_S
    return ChaosSpec(action, at_s, replica, duration)


def chaos_event(action: str, target: str, detail: str, step: int | None, at: float) -> dict[str, Any]:
    """One events.jsonl line (docs/RUN_DIR.md)."""
    return {
        "at": round(at, 3),
        "kind": "chaos",
        "action": action,
        "target": target,
        "step": step,
        "detail": detail,
    }


class ChaosTarget(Protocol):
    """Where faults land; each action blocks and returns a one-line detail for the event."""

    def name(self, replica: int) -> str:
        """The replica's name, as dashboards label it (`whisperlive-N`)."""

    def act(self, action: str, replica: int) -> str:
        """Do `action` (kill, pause, resume, restart) to `replica`; the detail of what was done."""


class LocalChaos:
    """Faults on the local stack's replica processes, through `python -m stack replica` (one process per
    action; a restart blocks until the replica is ready again)."""

    def __init__(self, stack_dir: Path) -> None:
        self.stack_dir = stack_dir

    @classmethod
    def attach(cls, stack_dir: Path) -> LocalChaos:
        """The stack in `stack_dir`, checked now (`python -m stack status`): a usage error when there is
        none, before any step runs."""
        if importlib.util.find_spec("stack") is None:
            raise UsageError(
                "faults on a local stack need its tools (`python -m stack`), which this install lacks"
                " (the loadgen image has none): use --compose for Compose containers"
            )
        chaos = cls(stack_dir)
        chaos._stack("status")
        return chaos

    def name(self, replica: int) -> str:
        """`whisperlive-N`, the pid file's name."""
        return replica_name(replica)

    def act(self, action: str, replica: int) -> str:
        """Kill, pause, resume or restart the replica; the stack's one-line detail of what it did."""
        return self._stack("replica", action, str(replica))

    def _stack(self, *command: str) -> str:
        """Run `python -m stack COMMAND --run-dir DIR`: its last stdout line; when it fails, its last stderr
        line (less the `stack: ` prefix) as a usage error (`status` exits 1 without one when a process is
        down: that stack is still there)."""
        argv = [sys.executable, "-m", "stack", *command, "--run-dir", str(self.stack_dir)]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0 and (errors := done.stderr.strip().splitlines()):
            raise UsageError(errors[-1].removeprefix("stack: "))
        return (done.stdout.strip().splitlines() or [""])[-1]


class ComposeChaos:
    """Faults on Compose containers through the Docker SDK (kill, pause/unpause, restart)."""

    def __init__(self, client: Any, service: str = COMPOSE_SERVICE, project: str | None = None) -> None:
        self.client = client
        self.service = service
        self.project = project

    def name(self, replica: int) -> str:
        """`SERVICE-N`, as the Docker collector labels it."""
        return f"{self.service}-{replica}"

    def container(self, replica: int) -> Any:
        """The replica's container; a usage error when Compose runs no such replica."""
        labels = [
            f"com.docker.compose.service={self.service}",
            f"com.docker.compose.container-number={replica}",
        ]
        if self.project:
            labels.append(f"com.docker.compose.project={self.project}")
        found = self.client.containers.list(all=True, filters={"label": labels})
        if not found:
            raise UsageError(f"no Compose container for service {self.service} replica {replica}")
        return found[0]

    def act(self, action: str, replica: int) -> str:
        """kill (SIGKILL), pause/unpause (cgroup freezer), restart (docker restart)."""
        container = self.container(replica)
        if action == KILL:
            container.kill()
        elif action == PAUSE:
            container.pause()
        elif action == RESUME:
            container.unpause()
        else:
            container.restart()
        return f"docker {'unpause' if action == RESUME else action} {container.name}"


def open_target(
    compose: bool, stack_dir: Path, service: str = COMPOSE_SERVICE, project: str | None = None
) -> ChaosTarget:
    """The Compose containers (Docker engine from the environment) or the local stack in `stack_dir`;
    one clear error when neither can be reached."""
    if compose:
        import docker

        try:
            return ComposeChaos(docker.from_env(), service, project)
        except docker.errors.DockerException as exc:
            raise ServerUnreachable(f"cannot reach the Docker engine ({exc}); is dockerd running?") from exc
    return LocalChaos.attach(stack_dir)


def event_appender(path: Path) -> EventSink:
    """A sink appending each event as one flushed line to `path` (another process may append too)."""

    def append(event: dict[str, Any]) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as out:
                out.write(json.dumps(event) + "\n")
        except OSError as exc:
            raise UsageError(f"cannot append to {path}: {exc.strerror}") from exc

    return append


def act_and_log(target: ChaosTarget, action: str, replica: int, sink: EventSink, step: int | None) -> str:
    """Do one action now and append its event; returns the detail."""
    detail = target.act(action, replica)
    sink(chaos_event(action, target.name(replica), detail, step, time.time()))
    return detail


async def inject(
    spec: ChaosSpec, target: ChaosTarget, sink: EventSink, step: int | None = None, started_at: float = 0.0
) -> None:
    """Wait until `spec.at_s` after `started_at` (monotonic; 0: now), then do it (a pause is resumed
    after its duration, also when cancelled); actions run in a thread, the loop keeps streaming."""
    begin = started_at or time.monotonic()
    await asyncio.sleep(max(0.0, begin + spec.at_s - time.monotonic()))
    await asyncio.to_thread(act_and_log, target, spec.action, spec.replica, sink, step)
    if spec.action != PAUSE:
        return
    try:
        await asyncio.sleep(spec.duration_s or DEFAULT_PAUSE_S)
    finally:
        await asyncio.to_thread(act_and_log, target, RESUME, spec.replica, sink, step)
