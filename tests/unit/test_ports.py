"""docs/PORTS.md is the one table of ports: no local port twice, and the code's defaults agree with it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stack import ports

TABLE = Path(__file__).resolve().parents[2] / "docs" / "PORTS.md"
NONE = "—"


def parse_table(text: str) -> dict[str, list[str]]:
    """key -> [what, local, compose container, compose host], from the table's rows."""
    rows = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 5 and cells[0] not in ("key", "---"):
            rows[cells[0]] = cells[1:]
    return rows


def port_set(cell: str) -> set[int]:
    """ "9090" -> {9090}; "9101-9199 (9100 + i)" -> 9101..9199; "9092 (127.0.0.1)" -> {9092}; "—" -> {}."""
    if cell == NONE:
        return set()
    match = re.match(r"(\d+)(?:-(\d+))?", cell)
    assert match, f"not a port or range: {cell!r}"
    first, last = int(match[1]), int(match[2] or match[1])
    return set(range(first, last + 1))


@pytest.fixture(scope="module")
def table() -> dict[str, list[str]]:
    return parse_table(TABLE.read_text())


def test_no_local_port_is_listed_twice(table):
    seen: dict[int, str] = {}
    for key, (_, local, _, _) in table.items():
        for port in port_set(local):
            assert port not in seen, f"local port {port}: both {seen[port]} and {key}"
            seen[port] = key
    assert len(seen) > 200  # the two replica ranges are counted in full


def test_no_host_port_of_compose_is_published_twice(table):
    published = [port for _, _, _, host in table.values() for port in port_set(host)]
    assert len(published) == len(set(published))


def test_the_code_defaults_are_the_table(table):
    for key, port in ports.LOCAL.items():
        assert port_set(table[key][1]) == {port}, key
    assert port_set(table["replica"][1]) == set(range(ports.REPLICA_BASE + 1, ports.REPLICA_BASE + 100))
    metrics = set(range(ports.REPLICA_METRICS_BASE + 1, ports.REPLICA_METRICS_BASE + 100))
    assert port_set(table["replica-metrics"][1]) == metrics
    assert ports.MAX_REPLICAS == 99


def test_compose_container_ports_are_the_table(table):
    expected = {
        "balancer": ports.COMPOSE_BALANCER,
        "nginx-status": ports.COMPOSE_NGINX_STATUS,
        "prometheus": ports.COMPOSE_PROMETHEUS,
        "replica": ports.COMPOSE_REPLICA,
        "replica-metrics": ports.COMPOSE_REPLICA_METRICS,
        "alertmanager": ports.COMPOSE_ALERTMANAGER,
        "grafana": ports.GRAFANA,
    }
    for key, port in expected.items():
        assert port_set(table[key][2]) == {port}, key


@pytest.mark.parametrize("base", [ports.BALANCER, 19090, 65535 - 209])
def test_a_shifted_stack_of_the_most_replicas_never_collides(base):
    local = ports.LocalPorts(base)
    used = local.used(ports.MAX_REPLICAS)
    assert len(used) == 5 + 2 * ports.MAX_REPLICAS  # balancer, status, Prometheus, Alertmanager, exporters
    assert min(used) == base and max(used) == local.replica_metrics(ports.MAX_REPLICAS)


def test_the_shifted_defaults_are_the_table_defaults():
    local = ports.LocalPorts()
    assert (local.balancer, local.nginx_status, local.prometheus, local.exporters) == (9090, 9091, 9092, 9096)
    assert local.alertmanager == 9093 and ports.LocalPorts(19090).alertmanager == 19093
    assert (local.replica(1), local.replica_metrics(1), local.replica(3)) == (9101, 9201, 9103)
    assert ports.LocalPorts(19090).replica(2) == 19102
