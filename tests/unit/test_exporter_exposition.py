"""The `/metrics` body: families joined by name, exact-name counters declared as their Go exporters do."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families

from exporters.exposition import merged, render
from exporters.families import counter, exact_counter, gauge


class _Fixed:
    def __init__(self, *families):
        self.families = families

    def collect(self):
        return iter(self.families)


def _render(*families) -> str:
    registry = CollectorRegistry()
    registry.register(_Fixed(*families))
    return render(registry).decode()


def test_exact_counter_is_declared_and_sampled_under_its_own_name():
    text = _render(exact_counter("nginx_connections_accepted", "Accepted client connections", [({}, 7)]))
    assert text == (
        "# HELP nginx_connections_accepted Accepted client connections\n"
        "# TYPE nginx_connections_accepted counter\n"
        "nginx_connections_accepted 7.0\n"
    )


def test_ordinary_counter_keeps_the_total_suffix():
    text = _render(counter("nginx_http_requests_total", "Total http requests", [({}, 3)]))
    assert "# TYPE nginx_http_requests_total counter\nnginx_http_requests_total 3.0\n" in text


def test_families_of_one_name_from_two_collectors_are_declared_once():
    a = gauge("container_threads", "Threads.", [({"name": "a"}, 1)])
    b = gauge("container_threads", "Threads.", [({"name": "b"}, 2)])
    text = _render(a, b)
    assert text.count("# TYPE container_threads gauge") == 1
    assert 'container_threads{name="a"} 1.0' in text and 'container_threads{name="b"} 2.0' in text
    assert [s.labels["name"] for s in merged([a, b])[0].samples] == ["a", "b"]
    assert len(a.samples) == 1  # the collectors' families are not modified


def test_body_parses_and_instrumented_metrics_still_render():
    registry = CollectorRegistry()
    Counter("exporter_poll_errors_total", "Polls that failed", ["collector"], registry=registry).labels("gpu")
    energy = exact_counter("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "mJ", [({"gpu": "0"}, 5)])
    registry.register(_Fixed(energy))
    families = {f.name: f for f in text_string_to_metric_families(render(registry).decode())}
    assert families["exporter_poll_errors"].type == "counter"
    # prometheus_client's parser adds `_total` to a counter's samples; Prometheus keeps the name as is
    assert families["DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"].type == "counter"
