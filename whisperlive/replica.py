"""Start and stop one replica as a subprocess (`python -m whisperlive serve ...`); no readiness here.

Compose with `whisperlive.readiness.wait_until_ready(url, timeout_s, process, log_path)`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

_IMPORT_ROOT = Path(__file__).resolve().parent.parent  # where `whisperlive` and `loadgen` import from


@dataclass(frozen=True)
class ReplicaSpec:
    """What differs between replicas; anything else goes in `extra_args` (e.g. `--batch`)."""

    port: int
    metrics_port: int
    log_path: Path
    host: str = "127.0.0.1"
    model: str = "tiny.en"
    max_clients: int = 4
    omp_threads: int | None = None
    extra_args: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        """The replica's WebSocket URL."""
        return f"ws://{self.host}:{self.port}"

    @property
    def ready_url(self) -> str:
        """The replica's own readiness endpoint (`whisperlive.drain`): no client slot taken."""
        return f"http://{self.host}:{self.metrics_port}/ready"


def replica_command(spec: ReplicaSpec) -> list[str]:
    """The argv that starts `spec` with this interpreter."""
    command = [sys.executable, "-m", "whisperlive", "serve", "--host", spec.host, "--port", str(spec.port)]
    command += ["--metrics-port", str(spec.metrics_port), "--model", spec.model]
    command += ["--max-clients", str(spec.max_clients)]
    if spec.omp_threads is not None:
        command += ["--omp-threads", str(spec.omp_threads)]
    return command + list(spec.extra_args)


def start_replica(spec: ReplicaSpec, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start the replica in its own session, stdout and stderr appended to `spec.log_path`.

    `env` adds to this process's environment; the project stays importable from any working directory.
    """
    spec.log_path.parent.mkdir(parents=True, exist_ok=True)
    with spec.log_path.open("ab") as log:
        return subprocess.Popen(
            replica_command(spec),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_child_env(env or {}),
            start_new_session=True,
        )


def stop_replica(process: subprocess.Popen[bytes], grace_s: float = 5.0) -> int:
    """SIGTERM, then SIGKILL after `grace_s`; return the exit code once the process is gone."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()


def _child_env(extra: Mapping[str, str]) -> dict[str, str]:
    merged = {**os.environ, **extra}
    paths = [str(_IMPORT_ROOT), *filter(None, merged.get("PYTHONPATH", "").split(os.pathsep))]
    merged["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return merged
