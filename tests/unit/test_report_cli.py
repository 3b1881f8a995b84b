"""`loadgen report` and `loadgen compare` on run directories written as docs/RUN_DIR.md says."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from loadgen.cli.entry import main
from loadgen.report.edge.inputs import with_local_host_cpus
from loadgen.report.model.usage import ReplicaUsage, StepResources, resources_to_json
from tests.run_dirs import (
    T0,
    System,
    manifest,
    ramp_steps,
    read_json,
    session,
    step,
    tear_last_line,
    write_run,
)

REPO = Path(__file__).resolve().parents[2]
CLIENTS = [1, 2, 4, 6, 8, 10, 12]


def ramp(path: Path, knee: int = 8, replicas: int = 3, **run) -> Path:
    sessions = [session(i, 0, f"127.0.0.1:910{i % 3 + 1}", T0 + i) for i in range(6)]
    return write_run(
        path, manifest(replicas=replicas, **run), ramp_steps(System(knee=knee), CLIENTS), sessions
    )


def test_report_of_a_killed_run_with_torn_last_lines(tmp_path):
    run = ramp(tmp_path / "run", status="running")  # SIGKILL: run.json never rewritten
    tear_last_line(run / "steps.jsonl")  # the 12-client step was being written
    tear_last_line(run / "sessions.jsonl")
    proc = subprocess.run(
        [sys.executable, "-m", "loadgen", "report", str(run)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "max concurrent connections" in proc.stdout and "report.html" in proc.stdout
    summary = read_json(run / "summary.json")
    assert summary["capacity"]["max_clients"] == 8
    assert summary["run"]["status"] == "interrupted"
    assert len(summary["rows"]) == len(CLIENTS) - 1 and summary["totals"]["sessions"] == 5
    md = (run / "report.md").read_text()
    assert "(run interrupted)" in md and "steps.jsonl: the last line was torn" in md
    assert (run / "report.html").read_text().startswith("<!DOCTYPE html>")


def test_no_capacity_exits_1_with_the_reason(tmp_path, capsys):
    run = write_run(tmp_path / "run", manifest(), ramp_steps(System(knee=0, base_lag_s=0.9), [1, 2]))
    assert main(["report", str(run)]) == 1
    assert "even 1 client failed" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("make", "code", "words"),
    [
        (lambda p: p / "missing", 2, "does not exist"),
        (lambda p: p, 2, "not a run directory (no run.json)"),
        (lambda p: (p / "run.json").write_text("{not json") and p, 3, "not JSON"),
        (
            lambda p: write_run(p, manifest(), []) and (p / "steps.jsonl").write_text("garbage\n{}\n") and p,
            3,
            "steps.jsonl:1",
        ),
    ],
)
def test_a_missing_or_damaged_run_dir_is_one_line(tmp_path, capsys, make, code, words):
    path = make(tmp_path)
    assert main(["report", str(path)]) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("loadgen report: ") and words in err[0], err


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_unreachable_prometheus_is_one_warning_and_saved_resources_stay(tmp_path, capsys):
    run = ramp(tmp_path / "run")
    saved = {0: StepResources(replicas={"whisperlive-1": ReplicaUsage(cpu_cores=0.4)})}
    (run / "summary.json").write_text(json.dumps({"resources": resources_to_json(saved)}))
    assert main(["report", str(run), "--prometheus", f"http://127.0.0.1:{free_port()}"]) == 0
    out = capsys.readouterr().out
    assert out.count("warning") == 1 and "unusable" in out and "no resource data" in out
    assert read_json(run / "summary.json")["resources"]["0"]["replicas"]["whisperlive-1"]["cpu_cores"] == 0.4
    assert "whisperlive-1" in (run / "report.md").read_text()


def test_compare_exits_1_on_a_regression_beyond_the_tolerance(tmp_path, capsys):
    a, b = ramp(tmp_path / "a", knee=8), ramp(tmp_path / "b", knee=6)  # capacity 8 -> 6: -25 %
    assert main(["compare", str(a), str(b)]) == 1
    assert "REGRESSION" in capsys.readouterr().out
    assert main(["compare", str(a), str(b), "--tolerance", "30", "--markdown", str(tmp_path / "c.md")]) == 0
    md = (tmp_path / "c.md").read_text()
    assert "| max concurrent connections | 8 | 6 |" in md and "at matching client counts" in md


def test_compare_scaling_view(tmp_path, capsys):
    runs = [ramp(tmp_path / f"r{n}", knee=k, replicas=n) for n, k in ((1, 4), (2, 8), (3, 10))]
    assert main(["compare", "--scaling", *map(str, runs)]) == 0
    out = capsys.readouterr().out
    assert "efficiency" in out and "100 %" in out and "83 %" in out  # 10 / (3 * 4)


def test_compare_needs_two_runs_without_scaling(tmp_path, capsys):
    run = ramp(tmp_path / "a")
    assert main(["compare", str(run), str(run), str(run)]) == 2
    assert "exactly two run directories" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("url", "recorded", "expected"),
    [
        ("ws://127.0.0.1:9090", None, "this machine"),
        ("ws://localhost:9090", None, "this machine"),
        ("ws://[::1]:9090", None, "this machine"),
        ("ws://load-balancer:80", None, None),
        ("ws://10.0.0.5:9090", None, None),
        ("ws://127.0.0.1:9090", 64, 64),
    ],
)
def test_a_local_target_takes_this_machines_cores_unless_recorded(url, recorded, expected):
    run = with_local_host_cpus(manifest(url=url, host_cpus=recorded))
    assert run["host_cpus"] == (os.cpu_count() if expected == "this machine" else expected)


def test_a_soak_whose_lag_creeps_up_exits_1(tmp_path):
    creeping = [step(i, 8, 0.30 + 0.02 * i, 6.0, phase="soak", started_at=T0 + 300 * i) for i in range(8)]
    run = write_run(tmp_path / "soak", manifest(kind="soak"), creeping)
    assert main(["report", str(run)]) == 1
    assert "drift: transcript lag p95 +" in (run / "report.md").read_text()
    steady = [step(i, 8, 0.30, 6.0, phase="soak", started_at=T0 + 300 * i) for i in range(8)]
    assert main(["report", str(write_run(tmp_path / "steady", manifest(kind="soak"), steady))]) == 0
