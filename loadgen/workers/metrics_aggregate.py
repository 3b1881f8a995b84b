"""One set of `loadgen_*` metrics from K worker processes (`--workers K`): the parent scrapes each
worker's `/metrics` and serves their sum, so Prometheus keeps one load-generator target.

Counters and histograms add (buckets, `_count`, `_sum`, per label set); each gauge has a rule
(`GAUGE_RULES`): client counts add, flags and the step take the maximum, ratios the mean of the workers
that have one. `_created` series are dropped: a sum of creation times means nothing. prometheus_client's
multiprocess mode is not used: it forbids custom collectors and needs a shared directory.
"""

from __future__ import annotations

import math
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

SUM, MAX, MEAN = "sum", "max", "mean"
GAUGE_RULES = {
    "loadgen_target_clients": SUM,
    "loadgen_active_clients": SUM,
    "loadgen_generator_saturated": MAX,  # one saturated worker skews the lags of its share
    "loadgen_step": MAX,
    "loadgen_recent_wer_ratio": MEAN,  # each worker's last sessions: equal weights
    "loadgen_step_wer_ratio": MEAN,
}
SCRAPE_TIMEOUT_S = 2.0


def _mean(values: Sequence[float]) -> float:
    known = [v for v in values if not math.isnan(v)]
    return sum(known) / len(known) if known else math.nan


COMBINE: dict[str, Callable[[Sequence[float]], float]] = {SUM: sum, MAX: max, MEAN: _mean}

SampleKey = tuple[str, tuple[tuple[str, str], ...]]


@dataclass
class _Family:
    name: str
    documentation: str
    kind: str
    values: dict[SampleKey, list[float]] = field(default_factory=dict)


def merge_families(workers: Iterable[Iterable[Metric]]) -> list[Metric]:
    """The workers' metric families merged into one set (see the module docstring)."""
    merged: dict[str, _Family] = {}
    for families in workers:
        for family in families:
            if family.name.endswith("_created"):
                continue
            into = merged.setdefault(family.name, _Family(family.name, family.documentation, family.type))
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue
                key = (sample.name, tuple(sorted(sample.labels.items())))
                into.values.setdefault(key, []).append(sample.value)
    return [_combined(family) for family in merged.values()]


def _combined(family: _Family) -> Metric:
    rule = GAUGE_RULES.get(family.name, MAX) if family.kind == "gauge" else SUM
    metric = Metric(family.name, family.documentation, family.kind)
    for (name, labels), values in family.values.items():
        metric.add_sample(name, dict(labels), COMBINE[rule](values))
    return metric


def scrape(url: str, timeout_s: float = SCRAPE_TIMEOUT_S) -> list[Metric]:
    """One worker's families; an unreachable or unreadable worker raises OSError or ValueError."""
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        text = response.read().decode("utf-8")
    return list(text_string_to_metric_families(text))


class WorkerMetricsCollector(Collector):
    """Collects the sum of the workers' `/metrics` at every scrape, plus how many of them answered."""

    def __init__(self, urls: Sequence[str]) -> None:
        self.urls = list(urls)

    def collect(self) -> Iterator[Metric]:
        """Scrape every worker now and yield the merged families."""
        answered: list[list[Metric]] = []
        for url in self.urls:
            try:
                answered.append(scrape(url))
            except (OSError, ValueError):
                continue  # a worker that exited or hangs: loadgen_workers_up says so
        yield from merge_families(answered)
        up = GaugeMetricFamily("loadgen_workers_up", "Worker processes whose metrics this scrape read")
        up.add_metric([], len(answered))
        yield up
        configured = GaugeMetricFamily("loadgen_workers", "Worker processes of this generator (--workers)")
        configured.add_metric([], len(self.urls))
        yield configured
