"""The `/metrics` body: Prometheus text format 0.0.4, as the Go exporters we stand in for serve it.

Two things differ from `prometheus_client.generate_latest`:
- families of the same name from different collectors (Docker containers and local processes both
  export `container_*`) are joined into one family, since a name may only be declared once;
- an `ExactNameCounter` is declared `# TYPE <name> counter` under its exact name (prometheus_client
  would declare it as `<name>_total`, which no sample carries).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator

from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from exporters.families import ExactNameCounter

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Families(Collector):
    """A fixed list of families, in the shape `generate_latest` takes."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


def merged(families: Iterable[Metric]) -> list[Metric]:
    """Families joined by name, in order of first appearance; samples keep their order."""
    by_name: dict[str, Metric] = {}
    for family in families:
        first = by_name.get(family.name)
        if first is None:
            by_name[family.name] = family
            continue
        joined = copy.copy(first)
        joined.samples = first.samples + family.samples
        by_name[family.name] = joined
    return list(by_name.values())


def _as_gauge(family: Metric) -> Metric:
    shaped = copy.copy(family)
    shaped.type = "gauge"
    return shaped


def render(registry: Collector) -> bytes:
    """Everything `registry` collects, as the body of a scrape."""
    families = merged(registry.collect())
    exact = [family.name for family in families if isinstance(family, ExactNameCounter)]
    shaped = [_as_gauge(family) if isinstance(family, ExactNameCounter) else family for family in families]
    body = generate_latest(_Families(shaped))
    for name in exact:
        body = body.replace(f"# TYPE {name} gauge\n".encode(), f"# TYPE {name} counter\n".encode(), 1)
    return body
