"""Load through the balancer: 3 real tiny.en replicas behind nginx, 6 live clients, Prometheus watching.
The run is the session's `balanced_load` (conftest_stack.py), which test_report_resources.py also reads."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from stack.dashboards import annotation_queries, dashboards, panel_queries
from tests.integration.conftest_stack import BALANCED_CLIENTS, SCRAPE_S, BalancedLoad
from tests.prometheus_api import finite_points, query, query_range

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


# What cannot have data in this run, and why. The GPU collector is tested with an NVML double in
# tests/unit/test_exporter_gpu.py.
NO_GPU = "no GPU here: no DCGM series"
EXEMPT = {
    "GPU utilisation": NO_GPU,
    "GPU memory used": NO_GPU,
    "Load steps": "loadgen_step moves only in a ramp (`loadgen run` holds one load): "
    "tests/integration/test_alerting.py evaluates it during a real `loadgen ramp`",
}
RATE_INTERVAL = "30s"  # what Grafana's $__rate_interval is for a 5 s scrape interval at this zoom


def assert_every_panel_and_rule_has_data(local_stack, start: float, end: float) -> None:
    """Grafana's server cannot run here: evaluate every panel query and recording rule over the run
    instead, and require each to draw at least one point."""
    queries = [
        (f"{path.stem}: {title} / {legend}", expr.replace("$__rate_interval", RATE_INTERVAL))
        for path, text in dashboards().items()
        for title, legend, expr in panel_queries(text) + annotation_queries(text)
        if title not in EXEMPT
    ]
    rules = yaml.safe_load((REPO / "prometheus/rules/recording.yml").read_text())["groups"]
    queries += [(f"rule {r['record']}", r["record"]) for g in rules for r in g["rules"]]
    url = local_stack.prometheus_url
    points = {
        name: [v for _, v in finite_points(query_range(url, expr, start, end))] for name, expr in queries
    }
    print(f"{'query (dashboard: panel / legend, or recording rule)':<80} points  min .. max")
    for name, values in points.items():
        shown = f"{min(values):.3g} .. {max(values):.3g}" if values else "NO DATA"
        print(f"{name:<80} {len(values):>6}  {shown}")
    print(f"{len(queries)} panel queries and recording rules evaluated over the run; exempt:")
    for name, reason in EXEMPT.items():
        print(f"  {name}: {reason}")
    empty = [name for name, values in points.items() if not values]
    assert not empty, f"no data for: {empty}"


def test_six_clients_through_nginx_spread_over_every_replica(local_stack, balanced_load: BalancedLoad):
    load = balanced_load
    print(load.stdout[-5000:], load.stderr[-2000:])
    results = load.results
    assert load.returncode == 0, [
        (r.outcome, r.error_kind, r.error_detail) for r in results if r.outcome != "ok"
    ]
    assert len(results) >= BALANCED_CLIENTS and all(r.outcome == "ok" for r in results)
    served = Counter(r.replica for r in results)
    assert set(served) == set(local_stack.replica_addresses), served
    assert "Distribution over replicas" in load.stdout

    before, after = load.exporters_before, load.exporters_after
    replicas = [f"whisperlive-{i}" for i in range(1, len(local_stack.replica_addresses) + 1)]
    cpu = "container_cpu_usage_seconds_total"
    # every replica transcribed: its CPU seconds rose by at least 2 s over the run
    assert all(after[(cpu, r)] - before[(cpu, r)] > 2.0 for r in replicas), {
        r: after[(cpu, r)] for r in replicas
    }
    assert all(after[("container_memory_working_set_bytes", r)] > 100e6 for r in replicas)
    assert after[("nginx_up", "")] == 1 and after[("exporter_process_up", "")] == 1
    # Prometheus stored nginx's counter under the exporter's exact name (no _total suffix)
    [accepted] = query(local_stack.prometheus_url, "nginx_connections_accepted", at=load.ended + SCRAPE_S)
    assert float(accepted["value"][1]) >= len(results)

    # Prometheus scraped the load generator while it ran
    [sessions] = query(
        local_stack.prometheus_url,
        'sum(max_over_time(loadgen_sessions_total{outcome="ok"}[5m]))',
        at=load.ended + SCRAPE_S,
    )
    assert float(sessions["value"][1]) > 0

    # over the whole run, as a dashboard showing it would ask
    assert_every_panel_and_rule_has_data(local_stack, start=load.started, end=load.ended + SCRAPE_S)

    targets = [t for t in query(local_stack.prometheus_url, "up") if t["metric"]["job"] != "loadgen"]
    assert targets, "Prometheus scrapes nothing"
    assert {t["metric"]["instance"]: t["value"][1] for t in targets} == {
        t["metric"]["instance"]: "1" for t in targets
    }
    assert {t["metric"]["job"] for t in targets} >= {"whisperlive", "exporters"}
