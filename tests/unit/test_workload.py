"""The workload of a run (loadgen.core.workload): from the flags, to JSON and back, and compared."""

from __future__ import annotations

import argparse

from loadgen.cli.entry import build_parser
from loadgen.core.workload import CLOSED, Workload, differences
from loadgen.report.model.compare import RunFigures, workload_warnings


def _ramp(*flags: str) -> argparse.Namespace:
    return build_parser().parse_args(["ramp", "--audio-dir", "x", *flags])


def test_the_flags_of_a_ramp_make_its_workload_and_it_reads_back():
    args = _ramp(
        "--mode", "continuous", "--session-length", "120", "--speech-ratio", "0.3", "--idle-clients", "4"
    )
    workload = Workload.from_flags(args)
    assert workload == Workload(
        arrival=CLOSED,
        mode="continuous",
        session_length="fixed:120",
        speech_ratio=0.3,
        pause_dist="exponential",
        seed=1,
        idle_clients=4,
        idle_mode="silence",
    )
    assert Workload.from_json(workload.to_json_dict()) == workload
    assert workload.describe() == (
        "closed loop, continuous sessions of fixed:120 s, speech 30 % (exponential pauses, seed 1), "
        "+4 idle clients (silence)"
    )


def test_per_file_sessions_record_no_length_and_old_runs_no_workload():
    workload = Workload.from_flags(_ramp())
    assert (workload.mode, workload.session_length, workload.gap_s, workload.speech_ratio) == (
        "per-file", None, None, None
    )
    assert workload.describe() == "closed loop, per-file sessions"
    assert Workload.from_json(None) is None
    assert Workload.from_json({"arrival": "poisson", "rate": 2.0, "future_field": 1}) == Workload(
        arrival="poisson", rate=2.0
    )
    # flags other commands add (open arrivals, traces) are read where present
    other = argparse.Namespace(
        arrival="poisson", rate=0.5, max_concurrency=40, trace="t.csv", time_scale=10.0
    )
    assert Workload.from_flags(other).describe() == (
        "poisson arrivals at 0.5/s, at most 40 concurrent, trace t.csv at 10x"
    )


def test_a_continuous_run_records_its_duration_as_the_session_length():
    args = build_parser().parse_args(["run", "--audio-dir", "x", "--mode", "continuous", "--duration", "60"])
    assert Workload.from_flags(args).session_length == "fixed:60"


def test_differences_name_each_field_that_differs():
    a = Workload(mode="continuous", session_length="fixed:300", gap_s=1.0)
    b = Workload(
        mode="continuous", session_length="fixed:300", speech_ratio=0.3, pause_dist="exponential", seed=1
    )
    assert differences(a, a) == []
    assert differences(a, b) == [
        "gap_s: 1.0 vs -",
        "speech_ratio: - vs 0.3",
        "pause_dist: - vs exponential",
        "seed: - vs 1",
    ]


def _figures(name: str, workload: Workload | None) -> RunFigures:
    return RunFigures(name, 4.0, 3, None, {}, {}, {}, workload=workload)


def test_compare_warns_when_workloads_differ_or_one_is_not_recorded():
    same = Workload(mode="continuous", speech_ratio=0.3)
    assert workload_warnings([_figures("A", same), _figures("B", same)]) == []
    assert workload_warnings([_figures("A", None), _figures("B", None)]) == []
    assert workload_warnings([_figures("A", same), _figures("B", Workload(mode="continuous"))]) == [
        "warning: the workloads differ (A vs B): speech_ratio: 0.3 vs -"
    ]
    assert workload_warnings([_figures("A", None), _figures("B", same)]) == [
        "warning: A records no workload (written before it was), the other does"
    ]
