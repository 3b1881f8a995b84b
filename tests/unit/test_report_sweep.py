"""The comparison report of a sweep, from sweep directories laid out as `loadgen sweep` writes them:
sweep.json plus one ramp run directory per configuration, whose steps.jsonl lines are written through
`StepRecord.to_json_dict` (the real record format) against fixture systems with known knees."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from loadgen.cli.entry import main
from loadgen.core.records import StepRecord
from loadgen.core.repeat import EN_DASH
from loadgen.report.edge.sweep import write_sweep_report
from loadgen.report.model.sweep import LARGER, NONE, UNKNOWN, WITHIN
from loadgen.report.model.usage import GpuUsage, ReplicaUsage, StepResources, resources_to_json
from tests.run_dirs import T0, System, manifest, read_json, step, write_run

WER = 0.05


def ramp_lines(knees: list[int]) -> list[dict[str, Any]]:
    """One search per knee (`--repeat` when several): 1, 2, ... knee + 1 clients, failing above the knee;
    throughput 0.5 streams per client, every lag sample on time (goodput = throughput)."""
    lines: list[dict[str, Any]] = []
    for r, knee in enumerate(knees):
        system = System(knee=knee)
        for n in range(1, knee + 2):
            repeat = r if len(knees) > 1 else None
            lines.append(step(len(lines), n, system.lag_p95(n), 0.5 * n, wer=WER, repeat=repeat))
    return [StepRecord.from_json(line).to_json_dict() for line in lines]


def config(
    cid: str,
    replicas: int,
    knees: list[int] | None,
    mode: str = "batch",
    status: str = "done",
    error: str | None = None,
    resources: dict[int, StepResources] | None = None,
) -> dict[str, Any]:
    """A sweep.json configuration; `knees` (None: no run directory) and `resources` say what to write."""
    return {
        "id": cid,
        "server": {
            "mode": mode,
            "replicas": replicas,
            "batch_max_size": 8 if mode == "batch" else None,
            "batch_max_queue_wait_s": None,
            "model": "tiny.en",
            "compute_type": None,
            "omp_threads": 1,
            "max_clients": None,
        },
        "workload": {"--speech-ratio": "0.3"},
        "ramp_args": [],
        "status": status,
        "run_dir": f"configs/{cid}",
        "started_at": T0,
        "ended_at": T0 + 300,
        "wall_s": 300.0,
        "steps": None,
        "bracket": None,
        "capacity": None,
        "low": None,
        "high": None,
        "first_failure": None,
        "error": error,
        "_knees": knees,
        "_resources": resources,
    }


def write_sweep(
    path: Path, configs: list[dict[str, Any]], repeat: int, target_info: dict[str, Any] | None = None
) -> Path:
    """sweep.json and each configuration's run directory (with a summary.json of saved resources)."""
    entries = []
    for c in configs:
        knees, resources = c.pop("_knees"), c.pop("_resources")
        if knees is not None:
            run = write_run(
                path / c["run_dir"], manifest(replicas=c["server"]["replicas"]), ramp_lines(knees)
            )
            caps = sorted(k for k in knees if k > 0)  # knee 0: even 1 client fails
            if caps:
                c |= {"capacity": caps[len(caps) // 2], "low": caps[0], "high": caps[-1]}
            if resources:
                (run / "summary.json").write_text(json.dumps({"resources": resources_to_json(resources)}))
        entries.append(c)
    sweep = {
        "version": 1,
        "matrix_file": "matrix.toml",
        "matrix": {},
        "target": "local",
        "target_info": target_info or {"cpus": 2},  # as the local target describes itself
        "started_at": T0,
        "updated_at": T0 + 900,
        "wall_s": 900.0,
        "warm_start": True,
        "repeat": repeat,
        "best": None,
        "configs": entries,
    }
    path.mkdir(parents=True, exist_ok=True)
    (path / "sweep.json").write_text(json.dumps(sweep))
    return path


def cpu(cores: list[float]) -> StepResources:
    return StepResources(
        replicas={f"whisperlive-{i + 1}": ReplicaUsage(cpu_cores=c) for i, c in enumerate(cores)}
    )


def test_figures_at_capacity_come_from_the_median_run_s_capacity_window(tmp_path):
    # knees 7, 8, 10: median 8 from the second search, whose 8-client step is index 8 + 7 = 15; the
    # third search's 8-client step (index 17 + 7 = 24) used more CPU and must not be read
    saved = {15: cpu([0.9, 0.95]), 24: cpu([1.0, 1.0])}
    path = write_sweep(tmp_path / "s", [config("batch-b8-r2", 2, [7, 8, 10], resources=saved)], repeat=3)
    sweep = write_sweep_report(path)
    c = sweep.configs[0]
    assert (c.capacity, c.low, c.high, c.runs, c.capacities) == (8, 7, 10, 3, [7, 8, 10])
    assert c.per_replica == 4.0 and c.per_core == 4.0 and c.per_gpu is None  # 8 / 2 replicas, 8 / 2 cores
    at = c.at_capacity
    assert at is not None and (at.row.index, at.row.clients) == (15, 8)
    assert (
        at.row.lag_p95 == pytest.approx(0.38) and at.row.wer == WER and at.row.goodput == pytest.approx(4.0)
    )
    assert at.cpu_cores == pytest.approx(1.85) and at.cpu_share == pytest.approx(0.925)
    assert at.gpu_util_pct == {}
    md = (path / "sweep_report.md").read_text()
    assert "1.85 cores (92 % of the host)" in md and "not measured" in md  # GPU: no data, never invented


def test_a_margin_beyond_the_spread_names_the_best(tmp_path):
    path = write_sweep(
        tmp_path / "s",
        [config("single-r1", 1, [6, 7, 7], mode="single"), config("batch-b8-r3", 3, [10, 10, 11])],
        repeat=3,
    )
    d = write_sweep_report(path).decision
    assert (d.best, d.runner_up, d.margin, d.spread) == ("batch-b8-r3", "single-r1", 3, LARGER)
    assert d.margin_pct == pytest.approx(100 * 3 / 7)
    settings = "batch, replicas 3, batch size 8, tiny.en, OMP 1"
    assert d.sentence.startswith(f"Deploy batch-b8-r3 ({settings}): 10 concurrent streams (range 10")
    assert "3 more than single-r1 at 7 (range 6" in d.sentence and "+42.9 %" in d.sentence
    assert "larger than the run-to-run spread" in d.sentence


def test_overlapping_ranges_are_within_the_spread(tmp_path):
    path = write_sweep(tmp_path / "s", [config("a", 2, [8, 9, 10]), config("b", 2, [7, 8, 9])], repeat=3)
    d = write_sweep_report(path).decision
    assert (d.best, d.margin, d.spread) == ("a", 1, WITHIN)
    assert d.margin_pct == pytest.approx(12.5)
    assert f"ranges 8{EN_DASH}10 and 7{EN_DASH}9 overlap" in d.sentence


def test_one_run_per_config_leaves_the_spread_unknown(tmp_path):
    path = write_sweep(tmp_path / "s", [config("a", 1, [6]), config("b", 3, [9])], repeat=1)
    sweep = write_sweep_report(path)
    d = sweep.decision
    assert (d.best, d.margin, d.margin_pct, d.spread) == ("b", 3, 50.0, UNKNOWN)
    assert "single run per config: spread unknown" in d.sentence
    b = sweep.configs[1]
    assert (b.capacity, b.low, b.high, b.runs, b.per_replica) == (9, 9, 9, 1, 3.0)
    assert b.range_text() == "—"  # one search: no range to show


def test_a_tie_goes_to_fewer_replicas(tmp_path):
    path = write_sweep(tmp_path / "s", [config("r3", 3, [8]), config("r2", 2, [8])], repeat=1)
    d = write_sweep_report(path).decision
    assert (d.best, d.runner_up, d.margin) == ("r2", "r3", 0)
    assert "tied with r3" in d.sentence and "fewer replicas" in d.sentence


def test_failed_and_pending_configs_are_listed_with_their_error(tmp_path):
    path = write_sweep(
        tmp_path / "s",
        [
            config("ok", 2, [5]),
            config("broken", 3, None, status="failed", error="replica 2 not ready after 60 s"),
            config("later", 1, None, status="pending"),
        ],
        repeat=1,
    )
    sweep = write_sweep_report(path)
    assert sweep.decision.best == "ok" and sweep.decision.runner_up is None
    assert [(c.id, c.status, c.error) for c in sweep.unfinished] == [
        ("broken", "failed", "replica 2 not ready after 60 s"),
        ("later", "pending", None),
    ]
    md = (path / "sweep_report.md").read_text()
    assert sweep.notes == [
        "2 of 3 configurations did not finish (broken, later): the best is the best of the finished ones"
    ]
    assert "## Failed or unfinished configurations" in md and "| broken | failed | replica 2 not ready" in md


def test_gpus_give_streams_per_gpu_and_their_use_at_capacity(tmp_path):
    saved = {7: StepResources(gpus={"0": GpuUsage(util_pct=45.0)})}  # 8 clients is the 8th step
    info = {"host_cpus": 16, "gpus": ["NVIDIA H100 80GB HBM3"]}
    path = write_sweep(tmp_path / "s", [config("b8", 3, [8], resources=saved)], repeat=1, target_info=info)
    c = write_sweep_report(path).configs[0]
    assert c.per_gpu == 8.0 and c.per_core == 0.5
    md = (path / "sweep_report.md").read_text()
    assert "| per GPU |" in md and "GPU 0: 45 %" in md


def test_report_files_and_exit_codes_of_loadgen_report(tmp_path, capsys):
    path = write_sweep(tmp_path / "s", [config("a", 1, [4]), config("b", 2, [6])], repeat=1)
    assert main(["report", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Deploy b" in out and "sweep_report.html" in out
    html = (path / "sweep_report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "data:image/png;base64," in html
    assert 'src="http' not in html and "<link" not in html  # self-contained
    assert (path / "sweep_capacity.png").read_bytes().startswith(b"\x89PNG")
    data = read_json(path / "sweep_report.json")
    assert data["decision"]["best"] == "b" and [c["capacity"] for c in data["configs"]] == [4, 6]
    md = (path / "sweep_report.md").read_text()
    assert md.index("Deploy b") < md.index("## Configurations") and "sweep_capacity.png" in md

    assert main(["report", str(path), "--prometheus", "http://127.0.0.1:1"]) == 0
    assert "--prometheus is not used for a sweep directory" in capsys.readouterr().out

    none = write_sweep(tmp_path / "n", [config("x", 1, [0]), config("y", 1, None, status="failed")], 1)
    assert main(["report", str(none)]) == 1  # knee 0: even 1 client fails
    sweep = write_sweep_report(none)
    assert (
        sweep.decision.spread == NONE
        and sweep.decision.sentence == "No finished configuration found a capacity."
    )
    assert sweep.configs[0].notes == [
        "no capacity: even 1 client failed: no capacity found (p95 transcript lag 0.71 s > 0.50 s)"
    ]


def test_a_damaged_sweep_json_is_one_line_and_exit_3(tmp_path, capsys):
    path = tmp_path / "s"
    path.mkdir()
    (path / "sweep.json").write_text("{torn")
    assert main(["report", str(path)]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "sweep.json: not JSON" in err[0], err


def test_a_damaged_run_dir_and_a_different_recorded_best_are_named(tmp_path):
    configs = [config("a", 1, [4]), config("b", 2, [6]), config("c", 1, [9])]
    path = write_sweep(tmp_path / "s", configs, repeat=1)
    data = read_json(path / "sweep.json")
    (path / "sweep.json").write_text(json.dumps(data | {"best": "a"}))
    (path / "configs" / "c" / "run.json").write_text("{torn")
    warnings: list[str] = []
    sweep = write_sweep_report(path, warnings.append)
    c = sweep.configs[2]
    assert c.capacity == 9 and c.at_capacity is None  # as sweep.json records it, nothing at capacity
    assert len(warnings) == 1 and warnings[0].startswith("c: ") and "not JSON" in warnings[0]
    assert c.notes and c.notes[0].startswith("run directory unreadable")
    assert sweep.decision.best == "c"  # sweep.json's capacity still counts
    assert sweep.notes == ["sweep.json names a best; this comparison finds c"]


def test_an_even_number_of_runs_takes_the_lower_middle_run_s_window(tmp_path):
    path = write_sweep(tmp_path / "s", [config("a", 2, [6, 8])], repeat=2)
    c = write_sweep_report(path).configs[0]
    assert (c.capacity, c.low, c.high, c.per_replica) == (7, 6, 8, 3.5)
    assert c.at_capacity is not None and (c.at_capacity.row.repeat, c.at_capacity.row.clients) == (0, 6)


def test_a_done_config_without_a_capacity_says_why(tmp_path):
    # knee 0: even 1 client fails; the ramp finished, so the sweep records it done with capacity null
    path = write_sweep(
        tmp_path / "s",
        [config("ok", 1, [4]), config("none", 1, [0], error="even 1 client failed the WER criterion")],
        repeat=1,
    )
    sweep = write_sweep_report(path)
    none = sweep.configs[1]
    assert (none.status, none.capacity, sweep.unfinished) == ("done", None, [])
    assert sweep.decision.best == "ok" and sweep.decision.runner_up is None
    assert none.notes[-1] == "no capacity: even 1 client failed the WER criterion"
    assert (
        "none: no capacity: even 1 client failed the WER criterion" in (path / "sweep_report.md").read_text()
    )
