"""`loadgen ramp` against `loadgen simulate` with a steep, deterministic knee: the search finds it.

The simulator answers with 0.1 s lag up to its capacity and 1.1 s or more beyond, so with the 0.5 s SLO
every step is unambiguous; continuous sessions and 1 s holds keep each test short. (A stall long enough to
push a 0.1 s lag past the SLO, 0.4 s, is over 5 % of any hold this short or twice as long: a longer hold
would not make a passing step safer.)
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loadgen.cli.entry import main
from loadgen.data.run_dir import STEPS, RunDir
from tests.simulator_process import FAST_RAMP, simulator

QUICK_RAMP = [*FAST_RAMP, "--hold", "1"]  # FAST_RAMP's 2 s holds, halved (the last --hold wins)


def _ramp_args(url: str, run_dir: Path, *extra: str) -> list[str]:
    return [
        "ramp",
        "--url",
        url,
        "--audio-dir",
        "test_audio/corpus",
        "--run-dir",
        str(run_dir),
        *QUICK_RAMP,
        *extra,
    ]


def _ramp(url: str, run_dir: Path, *extra: str) -> int:
    return main(_ramp_args(url, run_dir, *extra))


def _steps(run_dir: Path) -> list[dict]:
    return RunDir(run_dir).read_records(STEPS)[0]


@pytest.mark.timeout(90)
def test_adaptive_search_finds_the_knee(generated_corpus, free_port, tmp_path):
    # a knee of 6: grow 1, 2, 4, 8, then bisect 6 (passes) and 7 (fails). A knee found by one bisect step
    # (grow 1, 2, 4, bisect 3) is what test_sweep_simulator.py's cold search of single-r1 goes through.
    capacity = 6
    with simulator(generated_corpus, free_port(), tmp_path / "sim.log", capacity) as url:
        code = _ramp(url, tmp_path / "run")
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    assert code == 0
    assert manifest["status"] == "complete" and manifest["kind"] == "ramp"
    assert abs(manifest["outcome"]["capacity"] - capacity) <= 1
    assert manifest["outcome"]["capacity"] == capacity  # the knee is steep: exact in practice
    steps = _steps(tmp_path / "run")
    assert {s["phase"] for s in steps} == {"grow", "bisect"}
    for step in steps:  # every step failed exactly on lag, where the simulator says it should
        failing = [c["name"] for c in step["verdict"]["criteria"] if c["passed"] is False]
        assert failing == ([] if step["clients"] <= capacity else ["p95_transcript_lag"])
        assert step["window"]["active_clients"]["min"] == step["clients"]
    # clients retired when the target dropped are recorded as stopped, not as failures
    sessions, _ = RunDir(tmp_path / "run").read_sessions()
    assert sessions and {s.outcome for s in sessions} == {"stopped"}
    assert {s.error_kind for s in sessions} <= {"retired", "stopped"}


@pytest.mark.timeout(60)
def test_explicit_steps_stop_after_the_first_failure(generated_corpus, free_port, tmp_path, capsys):
    with simulator(generated_corpus, free_port(), tmp_path / "sim.log", capacity=4) as url:
        code = _ramp(url, tmp_path / "run", "--steps", "4,5,8")
    assert code == 0
    steps = _steps(tmp_path / "run")
    assert [(s["clients"], s["phase"], s["verdict"]["passed"]) for s in steps] == [
        (4, "explicit", True),
        (5, "explicit", False),
    ]
    out = capsys.readouterr().out
    assert "max concurrent connections: 4" in out and "p95_transcript_lag" in out


@pytest.mark.timeout(60)
def test_when_even_one_client_fails_the_exit_code_is_1_with_the_reason(
    generated_corpus, free_port, tmp_path, capsys
):
    with simulator(generated_corpus, free_port(), tmp_path / "sim.log", capacity=4, base_lag=0.8) as url:
        code = _ramp(url, tmp_path / "run")
    assert code == 1
    assert "even 1 client failed" in capsys.readouterr().out
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    assert manifest["outcome"]["capacity"] is None and manifest["status"] == "complete"


def test_unreachable_server_exits_4_and_bad_steps_exit_2(free_port, tmp_path, capsys):
    assert _ramp(f"ws://127.0.0.1:{free_port()}", tmp_path / "run") == 4
    assert "cannot reach" in capsys.readouterr().err
    with pytest.raises(SystemExit) as bad:
        _ramp("ws://127.0.0.1:1", tmp_path / "run", "--steps", "0,2")
    assert bad.value.code == 2


@pytest.mark.timeout(60)
def test_ctrl_c_keeps_the_judged_steps_and_marks_the_run_interrupted(generated_corpus, free_port, tmp_path):
    run_dir = tmp_path / "run"
    with simulator(generated_corpus, free_port(), tmp_path / "sim.log", capacity=8) as url:
        command = [sys.executable, "-m", "loadgen", *_ramp_args(url, run_dir, "--steps", "1,2,3,4")]
        ramp = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 40
        while not (run_dir / STEPS).exists() or not (run_dir / STEPS).read_text().strip():
            assert ramp.poll() is None and time.monotonic() < deadline, ramp.communicate()[0]
            time.sleep(0.2)
        ramp.send_signal(signal.SIGINT)
        out, _ = ramp.communicate(timeout=30)
    assert ramp.returncode == 130, out
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["status"] == "interrupted"
    steps = _steps(run_dir)
    assert 1 <= len(steps) < 4 and steps[0]["clients"] == 1
    sessions, torn = RunDir(run_dir).read_sessions()
    assert sessions and not torn and {s.outcome for s in sessions} == {"stopped"}


@pytest.mark.timeout(60)
def test_soak_judges_consecutive_windows_at_a_fixed_count(generated_corpus, free_port, tmp_path):
    with simulator(generated_corpus, free_port(), tmp_path / "sim.log", capacity=4) as url:
        code = main(
            [
                "soak",
                "--url",
                url,
                "--audio-dir",
                "test_audio/corpus",
                "--run-dir",
                str(tmp_path / "run"),
                "--clients",
                "3",
                "--duration",
                "4",
                "--window",
                "2",
                "--warmup",
                "1",
                "--connect-rate",
                "20",
                "--no-live",
            ]
        )
    assert code == 0
    steps = _steps(tmp_path / "run")
    assert [(s["index"], s["phase"], s["clients"]) for s in steps] == [(0, "soak", 3), (1, "soak", 3)]
    assert steps[1]["measure_from"] >= steps[0]["ended_at"] - 0.1  # back to back, not overlapping
    assert all(s["verdict"]["passed"] and s["window"]["active_clients"]["min"] == 3 for s in steps)
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    assert manifest["kind"] == "soak" and manifest["schedule"]["window_s"] == 2


@pytest.mark.timeout(90)
def test_repeat_runs_the_search_again_and_gives_the_capacity_with_its_range(
    generated_corpus, free_port, tmp_path, capsys
):
    with simulator(generated_corpus, free_port(), tmp_path / "sim.log", capacity=3) as url:
        code = _ramp(url, tmp_path / "run", "--steps", "3,4", "--repeat", "2")
    assert code == 0
    out = capsys.readouterr().out
    assert "max concurrent connections: capacity 3 (2 of 2 runs; range 3\N{EN DASH}3)" in out
    steps = _steps(tmp_path / "run")
    assert [(s["index"], s["repeat"], s["clients"], s["verdict"]["passed"]) for s in steps] == [
        (0, 0, 3, True),
        (1, 0, 4, False),
        (2, 1, 3, True),
        (3, 1, 4, False),
    ]
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    outcome = manifest["outcome"]
    assert (outcome["capacity"], outcome["low"], outcome["high"]) == (3, 3, 3)
    assert [run["capacity"] for run in outcome["repeats"]] == [3, 3] and manifest["schedule"]["repeat"] == 2
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["repeated"]["capacities"] == [3, 3]
    report = (tmp_path / "run" / "report.md").read_text()
    assert "| run 1 of 2 | capacity 3: 3 clients passed, 4 failed |" in report
    for step in summary["rows"]:  # goodput beside throughput: all of it on time up to capacity, none after
        served = step["throughput"] if step["passed"] else 0.0
        assert step["goodput"] == pytest.approx(served, rel=0.05, abs=0.01)
        low, high = step["lag_p95_ci"]
        assert low <= step["lag_p95"] <= high
