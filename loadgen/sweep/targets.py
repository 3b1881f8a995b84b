"""Where a sweep restarts the replicas: the `Target` interface a sweep drives, one per deployment kind.

`local` and `simulator` run the local stack through a process boundary (`python -m stack up|down`, as
chaos does: loadgen never imports stack); `compose` and `kubernetes` restart Compose services and
Kubernetes Deployments (their own modules).
"""

from __future__ import annotations

from typing import Any, Protocol

from loadgen.core.matrix import ServerSettings


class Target(Protocol):
    """A deployment a sweep restarts with each configuration's settings."""

    name: str

    def deploy(self, settings: ServerSettings) -> str:
        """(Re)start the replicas with these settings; return the ws:// URL to load."""

    def stop(self) -> None:
        """Stop what deploy started (idempotent)."""

    def describe(self) -> dict[str, Any]:
        """For sweep.json: host cores/GPU where known, paths."""
