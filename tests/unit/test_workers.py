"""--workers: the pure parts (merged metrics, statuses, windows, per-worker flags and files)."""

from __future__ import annotations

import argparse
import json
import math

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from loadgen.core.kpi import WordErrors
from loadgen.core.records import CorpusInfo, DriverStatus, WindowReading
from loadgen.core.session_result import SessionResult
from loadgen.core.window import Window
from loadgen.data.results_file import JsonlWriter, read_results
from loadgen.telemetry.metrics import LoadgenMetrics
from loadgen.workers.metrics_aggregate import GAUGE_RULES, merge_families
from loadgen.workers.pool import merge_status, merge_window_answers
from loadgen.workers.run_parts import RunParts
from loadgen.workers.spawn import free_ports, own_workload, worker_args


def _families(metrics: LoadgenMetrics) -> list:
    return list(text_string_to_metric_families(generate_latest(metrics.registry).decode()))


def _value(families: list, sample_name: str, **labels: str) -> float:
    for family in families:
        for sample in family.samples:
            if sample.name == sample_name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    raise AssertionError(f"no sample {sample_name} {labels}")


def _worker(active: int, lags: list[float], saturated: int, wer: float) -> LoadgenMetrics:
    metrics = LoadgenMetrics()
    observers = metrics.stream_observers("127.0.0.1:9101")
    for lag in lags:
        observers.transcript_lag(lag)
    metrics.active_clients.set(active)
    metrics.target_clients.set(active)
    metrics.generator_saturated.set(saturated)
    metrics.step.set(3)
    metrics.step_wer.set(wer)
    return metrics


def test_counters_and_histograms_add_and_gauges_follow_their_rule():
    a = _worker(3, [0.2, 0.4], saturated=0, wer=0.10)
    b = _worker(2, [0.3, 7.0, 9.0], saturated=1, wer=math.nan)
    merged = merge_families([_families(a), _families(b)])
    name = "loadgen_transcript_lag_seconds"
    assert _value(merged, f"{name}_count", replica="127.0.0.1:9101") == 5
    assert _value(merged, f"{name}_sum", replica="127.0.0.1:9101") == pytest.approx(16.9)
    assert _value(merged, f"{name}_bucket", replica="127.0.0.1:9101", le="+Inf") == 5
    assert _value(merged, "loadgen_active_clients") == 5  # sum
    assert _value(merged, "loadgen_generator_saturated") == 1  # max: one saturated worker is enough
    assert _value(merged, "loadgen_step") == 3
    assert _value(merged, "loadgen_step_wer_ratio") == pytest.approx(0.10)  # mean of those that have one
    assert not any(f.name.endswith("_created") for f in merged)
    assert "loadgen_transcript_lag_seconds_count" in generate_latest_of(merged)


def generate_latest_of(families: list) -> str:
    class _Registry:
        def collect(self):
            return families

    return generate_latest(_Registry()).decode()  # type: ignore[arg-type]


def test_every_loadgen_gauge_has_an_aggregation_rule():
    gauges = {f.name for f in LoadgenMetrics().registry.collect() if f.type == "gauge"}
    assert gauges and gauges <= set(GAUGE_RULES), gauges - set(GAUGE_RULES)


def test_no_worker_answering_gives_no_loadgen_series():
    assert merge_families([]) == []


def test_statuses_add_counts_and_keep_the_first_workers_description():
    corpus = CorpusInfo("audio", "wav+txt", 4, 30.0)
    statuses = [
        DriverStatus("ws://x", "per-file", corpus, 3, 3, 0, 2, 1, 12.0, 4, "/run/sessions.shard-0.jsonl"),
        DriverStatus("ws://x", "per-file", corpus, 2, 2, 1, 2, 1, 11.5, 1, "/run/sessions.shard-1.jsonl"),
    ]
    merged = merge_status(statuses)
    assert (merged.target, merged.clients, merged.retiring, merged.active) == (5, 5, 1, 4)
    assert merged.window_started_at == 11.5 and merged.sessions_ended == 5
    assert merged.url == "ws://x" and merged.step == 1 and merged.corpus == corpus


def _window(start: float, lags: list[float], errors: int, words: int) -> WindowReading:
    window = Window(start, 0)
    for i, lag in enumerate(lags):
        window.sample("transcript_lag", start + 0.1 * (i + 1), lag)
    result = SessionResult(client=0, seq=0, uid="u", utterances=["a"], started_at=start, replica="r1")
    result.word_errors = WordErrors(errors, 0, 0, words)
    window.session_ended(start + 1, result)
    return WindowReading(start, 2, 2, window.snapshot(start + 2))


def test_windows_merge_exactly_from_their_histograms():
    merged = merge_window_answers([_window(100.0, [0.1] * 19, 1, 10), _window(100.01, [5.0], 3, 30)])
    assert merged.started_at == 100.0 and merged.target == 4 and merged.active == 4
    lag = merged.window.transcript_lag
    assert lag is not None and lag.count == 20
    assert lag.p95 == pytest.approx(0.1, abs=0.001)  # 19 of 20 at 0.1 s
    assert lag.max == pytest.approx(5.0, rel=0.001)
    assert merged.window.wer == pytest.approx(4 / 40)


def test_worker_args_split_the_connect_rate_and_give_each_its_port():
    parent = argparse.Namespace(connect_rate=10.0, workers=4, metrics_host="0.0.0.0", metrics_port=9094, x=1)
    copy = worker_args(parent, 4, metrics_port=40123, num_clients=3)
    assert (copy.connect_rate, copy.workers) == (2.5, 1)
    assert (copy.metrics_host, copy.metrics_port, copy.num_clients, copy.x) == ("127.0.0.1", 40123, 3, 1)
    assert parent.metrics_port == 9094 and parent.workers == 4  # the parent's flags are untouched


def test_free_ports_are_distinct():
    ports = free_ports(8)
    assert len(set(ports)) == 8 and all(p > 0 for p in ports)


def test_run_parts_split_clients_and_merge_sessions_into_the_output_file(tmp_path):
    parts = RunParts(tmp_path / "out" / "sessions.jsonl", 3, in_run_dir=False)
    fields = parts.worker_fields(7)
    assert [f["num_clients"] for f in fields] == [3, 2, 2]
    assert (
        len({f["output_file"] for f in fields}) == 3
        and parts.workdir == tmp_path / "out" / "sessions.workers"
    )
    for index in (0, 2):  # worker 1 died before writing anything
        writer = JsonlWriter(parts.sessions(index))
        writer.write(SessionResult(client=index, seq=0, uid=f"w{index}", utterances=["a"], started_at=0.0))
        writer.close()
    results = parts.merge()
    assert [r.uid for r in results] == ["w0", "w2"]
    assert [r.uid for r in read_results(parts.output_file)[0]] == ["w0", "w2"]
    assert not any(parts.sessions(i).exists() for i in range(3))


def test_run_parts_in_a_run_directory_are_its_shard_files(tmp_path):
    parts = RunParts(tmp_path / "sessions.jsonl", 2, in_run_dir=True)
    assert parts.sessions(1) == tmp_path / "sessions.shard-1.jsonl"
    assert parts.workdir == tmp_path / "workers"


def test_worker_summaries_add_peaks_and_keep_the_worst_saturation(tmp_path):
    parts = RunParts(tmp_path / "sessions.jsonl", 3, in_run_dir=False)
    parts.workdir.mkdir()
    flagged = {
        "manifest": {"peak_streams": 4, "generator_saturation": {"worst_slip_p99_s": 0.08, "saturated_s": 3}}
    }
    parts.summary(0).write_text(json.dumps(flagged))
    parts.summary(1).write_text('{"manifest": {"peak_streams": 3}}')
    peak, saturation = parts.worker_summaries()  # worker 2 left no summary
    assert peak == 7
    assert (saturation.worst_slip_p99_s, saturation.saturated_s) == (0.08, 3.0)


def test_each_worker_draws_its_own_workload_and_shares_the_caps():
    """K workers with one seed would replay one arrival draw K times at once (bursts, not Poisson at R):
    worker i gets seed + i, and its share of the idle clients and of the concurrency cap."""
    args = argparse.Namespace(workers=3, seed=7, idle_clients=4, max_concurrency=10)
    shares = [own_workload(args, i) for i in range(3)]
    assert [s["seed"] for s in shares] == [7, 8, 9]
    assert [s["idle_clients"] for s in shares] == [2, 1, 1]
    assert [s["max_concurrency"] for s in shares] == [4, 3, 3]
    uncapped = own_workload(argparse.Namespace(workers=2, seed=1, idle_clients=0, max_concurrency=None), 1)
    assert uncapped == {"seed": 2, "idle_clients": 0}
