"""Default ports, as listed in docs/PORTS.md (the table is the reference; a unit test keeps them equal).

Locally every port is the balancer port plus a fixed offset, so `--base-port` moves the whole stack.
"""

from __future__ import annotations

import random
import socket
from dataclasses import dataclass

from loadgen.core.protocol import replica_name

BALANCER = 9090
NGINX_STATUS = 9091
PROMETHEUS = 9092
ALERTMANAGER = 9093
LOADGEN_METRICS = 9094
LOADGEN_CONTROL = 9095
EXPORTERS = 9096
REPLICA_BASE = 9100  # replica i (from 1) serves WebSockets on REPLICA_BASE + i
REPLICA_METRICS_BASE = 9200  # and its metrics on REPLICA_METRICS_BASE + i
MAX_REPLICAS = 99  # keeps the replica range below the metrics range

LOCAL: dict[str, int] = {
    "balancer": BALANCER,
    "nginx-status": NGINX_STATUS,
    "prometheus": PROMETHEUS,
    "alertmanager": ALERTMANAGER,
    "loadgen-metrics": LOADGEN_METRICS,
    "loadgen-control": LOADGEN_CONTROL,
    "exporters": EXPORTERS,
}

# Inside the Compose containers.
COMPOSE_BALANCER = 80
COMPOSE_NGINX_STATUS = 8080
COMPOSE_PROMETHEUS = 9090
COMPOSE_REPLICA = 9090
COMPOSE_REPLICA_METRICS = 9091
COMPOSE_ALERTMANAGER = 9093
GRAFANA = 3000


@dataclass(frozen=True)
class LocalPorts:
    """The local stack's ports, all derived from the balancer port."""

    balancer: int = BALANCER

    def _shifted(self, default: int) -> int:
        return self.balancer - BALANCER + default

    @property
    def nginx_status(self) -> int:
        """nginx stub_status."""
        return self._shifted(NGINX_STATUS)

    @property
    def prometheus(self) -> int:
        """Prometheus web and API."""
        return self._shifted(PROMETHEUS)

    @property
    def alertmanager(self) -> int:
        """Alertmanager web and API."""
        return self._shifted(ALERTMANAGER)

    @property
    def loadgen_metrics(self) -> int:
        """Where a load generator run beside the stack serves its metrics (`loadgen run --metrics-port`)."""
        return self._shifted(LOADGEN_METRICS)

    @property
    def exporters(self) -> int:
        """The exporters process (replica processes and nginx)."""
        return self._shifted(EXPORTERS)

    def replica(self, index: int) -> int:
        """WebSocket port of replica `index` (from 1)."""
        return self._shifted(REPLICA_BASE) + index

    def replica_metrics(self, index: int) -> int:
        """Metrics port of replica `index` (from 1)."""
        return self._shifted(REPLICA_METRICS_BASE) + index

    def used(self, replicas: int) -> dict[int, str]:
        """Every port a stack of `replicas` listens on, with what listens there."""
        named = {self.balancer: "nginx balancer", self.nginx_status: "nginx stub_status"}
        named[self.prometheus] = "Prometheus"
        named[self.alertmanager] = "Alertmanager"
        named[self.exporters] = "exporters"
        for i in range(1, replicas + 1):
            named[self.replica(i)] = f"{replica_name(i)} WebSocket"
            named[self.replica_metrics(i)] = f"{replica_name(i)} metrics"
        return named


def is_free(host: str, port: int) -> bool:
    """True when `host:port` can be bound now (SO_REUSEADDR: sockets in TIME_WAIT do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_base_port(replicas: int, host: str = "127.0.0.1", attempts: int = 50) -> int:
    """A random non-default balancer port whose whole stack of `replicas` is free (for tests)."""
    for _ in range(attempts):
        ports = LocalPorts(random.randrange(20_000, 60_000, 10))
        if all(is_free(host, port) for port in ports.used(replicas)):
            return ports.balancer
    raise RuntimeError(f"no free port range for {replicas} replicas on {host} after {attempts} tries")
