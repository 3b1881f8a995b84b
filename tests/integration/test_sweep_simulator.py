"""`loadgen sweep` against the local stack of simulators: three configurations with known knees, a sweep
killed (the whole process group, SIGKILL) in its second configuration, then resumed.

The simulator target gives a single-mode replica a capacity of 2 streams and a batch replica its
batch_max_size (3), with a steep knee (0.1 s lag up to capacity, 1.1 s beyond, the SLO 0.5 s): the knees
are 2 (single, 1 replica), 3 (batch, 1) and 6 (batch, 2). About a minute.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stack.ports import free_base_port
from tests.simulator_process import FAST_RAMP

pytestmark = pytest.mark.integration

KNEES = {"single-r1": 2, "batch-r1": 3, "batch-r2": 6}
# 1 s holds (FAST_RAMP's 2 s, overridden): every step's lag is 0.1 s or >= 1.1 s, far from the 0.5 s SLO
HOLD_1S = ["--hold", "1"]


def _matrix(path: Path, corpus: Path) -> Path:
    ramp_args = ", ".join(json.dumps(a) for a in ["--audio-dir", str(corpus), *FAST_RAMP, *HOLD_1S])
    path.write_text(
        f"""
[sweep]
target = "simulator"
ready_timeout = 30
[ramp]
args = [{ramp_args}, "--max-clients", "12"]
[server]
mode = ["single", "batch"]
batch_max_size = 3
replicas = [1, 2]
[[exclude]]
mode = "single"
replicas = 2
[simulator]
capacity = 2
base_lag_s = 0.1
per_stream_lag_s = 1.0
audio_dir = "{corpus}"
"""
    )
    return path


def _started(tmp_path: Path, corpus: Path) -> tuple[Path, Path, Path, subprocess.Popen]:
    """The matrix, the sweep dir, the log and a sweep of them, started."""
    matrix, out, log = _matrix(tmp_path / "m.toml", corpus), tmp_path / "sweep", tmp_path / "sweep.log"
    return matrix, out, log, _sweep(matrix, out, free_base_port(2), log)


def _wait_for(path: Path, sweep: subprocess.Popen, log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert sweep.poll() is None and time.monotonic() < deadline, f"no {path}: {log.read_text()}"
        time.sleep(0.2)


def _sweep(matrix: Path, out: Path, port: int, log: Path) -> subprocess.Popen:
    argv = [sys.executable, "-m", "loadgen", "sweep", "--matrix", str(matrix), "--out", str(out)]
    with log.open("ab") as sink:
        return subprocess.Popen(
            [*argv, "--base-port", str(port)], stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )


def _state(out: Path) -> dict:
    try:
        return json.loads((out / "sweep.json").read_text())
    except (FileNotFoundError, ValueError):
        return {}


@pytest.mark.timeout(300)
def test_a_killed_sweep_resumes_and_finds_every_knee(generated_corpus, tmp_path):
    matrix, out, log, first = _started(tmp_path, generated_corpus)
    _wait_for(out / "configs" / "batch-r1" / "run.json", first, log, 150)  # the second config's ramp started
    os.killpg(first.pid, signal.SIGKILL)  # the sweep and its ramp, as a crash would; the stack stays up
    first.wait()
    before = _state(out)
    assert before["configs"][1]["status"] == "running" and before["best"] == "single-r1"

    second = _sweep(matrix, out, free_base_port(2), log)
    assert second.wait(timeout=200) == 0, log.read_text()
    state = _state(out)
    text = log.read_text()
    assert "[1/3] single-r1: done before (capacity 2 in" in text  # skipped, not rerun
    assert state["configs"][0] == before["configs"][0]
    found = {c["id"]: c["capacity"] for c in state["configs"]}
    assert found.keys() == KNEES.keys()
    assert all(abs(found[i] - knee) <= 1 for i, knee in KNEES.items()), found
    assert state["best"] == "batch-r2" and all(c["status"] == "done" for c in state["configs"])
    assert state["configs"][0]["bracket"] is None  # the first is searched cold, the others warm
    assert all(c["bracket"] for c in state["configs"][1:])
    assert [p.name.split("-1")[0] for p in (out / "stale").iterdir()] == ["batch-r1"]  # the killed attempt
    for c in state["configs"]:
        assert (
            json.loads((out / c["run_dir"] / "run.json").read_text())["outcome"]["capacity"] == c["capacity"]
        )
    assert not (out / "stack" / "stack.json").exists()  # stopped at the end
    # the comparison report is written at the end and names the best as sweep.json does
    report = json.loads((out / "sweep_report.json").read_text())
    assert report["decision"]["best"] == state["best"] and (out / "sweep_report.md").is_file()
    assert f"report: {out / 'sweep_report.md'}" in text and "best: batch-r2;" in text
    # this fast ramp measures no WER (no 1-client baseline_wer in single-r1's steps.jsonl), so the warm
    # starts get no --baseline-wer: none is made up (the pass-through is in tests/unit/test_sweep.py)
    assert all(c["baseline_wer"] is None and c["baseline_from"] is None for c in state["configs"])
    commands = [
        json.loads((out / c["run_dir"] / "run.json").read_text())["command"] for c in state["configs"]
    ]
    assert all("--bracket" in argv and "--baseline-wer" not in argv for argv in commands[1:])


@pytest.mark.timeout(120)
def test_sigterm_marks_the_config_interrupted_and_stops_the_stack(generated_corpus, tmp_path):
    _, out, log, sweep = _started(tmp_path, generated_corpus)
    _wait_for(
        out / "configs" / "single-r1" / "steps.jsonl", sweep, log, 60
    )  # a step of the first ramp judged
    sweep.send_signal(signal.SIGTERM)
    assert sweep.wait(timeout=60) == 130, log.read_text()
    state = _state(out)
    assert [c["status"] for c in state["configs"]] == ["interrupted", "pending", "pending"]
    assert json.loads((out / "configs" / "single-r1" / "run.json").read_text())["status"] == "interrupted"
    assert not (out / "stack" / "stack.json").exists()  # the stack was stopped
    assert (out / "sweep_report.md").is_file()  # the report is written after an interrupted sweep too
