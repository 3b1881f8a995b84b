"""resources.py against a real Prometheus that scraped real targets: the local stack (3 tiny.en replicas,
nginx, exporters) while `loadgen run` streamed through the balancer (the session's `balanced_load`,
conftest_stack.py, which test_scaled_load.py also reads). No GPU here, so the DCGM queries must come back
empty rather than fail."""

from __future__ import annotations

import pytest

from loadgen.report.edge.resources import Window, fetch_resources
from tests.integration.conftest_stack import BalancedLoad

pytestmark = pytest.mark.integration


def test_step_windows_carry_cpu_memory_sessions_and_nginx_per_replica(
    local_stack, balanced_load: BalancedLoad
):
    load = balanced_load
    assert load.returncode in (0, 1), load.stderr[-2000:]
    served = {r.replica for r in load.results if r.replica}

    windows = [
        Window(0, load.started + 10, load.ended),
        Window(1, load.started - 86400, load.started - 86000),
    ]
    resources, warning = fetch_resources(local_stack.prometheus_url, windows)
    assert warning is None
    step = resources[0]
    names = {f"whisperlive-{i}" for i in range(1, len(local_stack.replica_addresses) + 1)}
    assert set(step.replicas) == names
    assert all(u.memory_bytes and u.memory_bytes > 100e6 for u in step.replicas.values()), step.replicas
    assert all(u.cpu_cores is not None for u in step.replicas.values())
    assert sum(u.cpu_cores or 0 for u in step.replicas.values()) > 0.2  # they transcribed
    assert all(u.cpu_limit_cores is None for u in step.replicas.values())  # local processes have no quota
    assert set(step.sessions_by_replica) <= set(local_stack.replica_addresses)
    assert set(step.sessions_by_replica) & served and sum(step.sessions_by_replica.values()) > 0
    assert step.nginx_active_max is not None and step.nginx_active_max >= 1
    assert step.gpus == {}  # no GPU on this machine: absent, not an error
    assert resources[1].replicas == {}  # a day before the stack existed: nothing


def test_unreachable_prometheus_is_one_warning_and_nothing_else(free_port):
    resources, warning = fetch_resources(f"http://127.0.0.1:{free_port()}", [Window(0, 1.0, 100.0)])
    assert resources == {}
    assert warning is not None and "\n" not in warning and "no resource data" in warning
