"""Building metric families from (labels, value) rows, for the collectors' pure converters."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

Row = tuple[Mapping[str, str], float]


class ExactNameCounter(Metric):
    """A counter whose samples carry the family's exact name, without `_total`.

    Some exporters we stand in for (nginx-prometheus-exporter, dcgm-exporter) expose counters such as
    `nginx_connections_accepted`; `exporters.exposition.render` writes them the way those exporters do.
    """

    def __init__(self, name: str, documentation: str) -> None:
        super().__init__(name, documentation, "counter")


def _filled(family: Metric, sample_name: str, rows: Iterable[Row]) -> Metric:
    family.samples.extend(Sample(sample_name, dict(labels), float(value)) for labels, value in rows)
    return family


def gauge(name: str, documentation: str, rows: Iterable[Row]) -> Metric:
    """A gauge family with one sample per row."""
    return _filled(Metric(name, documentation, "gauge"), name, rows)


def counter(name: str, documentation: str, rows: Iterable[Row]) -> Metric:
    """A counter family named `name` (which ends in `_total`), one sample per row."""
    base = name.removesuffix("_total")
    return _filled(Metric(base, documentation, "counter"), f"{base}_total", rows)


def exact_counter(name: str, documentation: str, rows: Iterable[Row]) -> Metric:
    """A counter family whose samples are named exactly `name` (see `ExactNameCounter`)."""
    return _filled(ExactNameCounter(name, documentation), name, rows)
