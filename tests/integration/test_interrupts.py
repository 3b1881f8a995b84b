"""Nothing lost: `loadgen run` against the simulator, killed (SIGKILL) or stopped (SIGINT, SIGTERM) mid-run,
as real subprocesses. The JSONL stays valid and holds every session finished before the signal."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadgen.data.corpus import load_corpus, write_pair
from loadgen.data.results_file import read_results
from tests.corpus_clips import clipped

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
REPO = Path(__file__).resolve().parents[2]
CLIP_S = 2.5  # each session streams one clip: a few seconds, so runs finish sessions often


@pytest.fixture(scope="module")
def short_corpus(generated_corpus, tmp_path_factory) -> Path:
    """The first three files of the generated corpus, each cut to its first CLIP_S seconds."""
    root = tmp_path_factory.mktemp("short_corpus")
    for u in clipped(load_corpus(generated_corpus, limit=3), CLIP_S).utterances:
        write_pair(root, u.name, u.audio, u.reference)
    return root


def wait_listening(port: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"simulator not listening on {port}")


@pytest.fixture
def simulator_url(short_corpus, free_port) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "-m", "loadgen", "simulate", "--port", str(port), "--base-lag", "0.1"]
    sim = subprocess.Popen([*command, "--audio-dir", str(short_corpus)], cwd=REPO, stdout=subprocess.DEVNULL)
    try:
        wait_listening(port)
        yield f"ws://127.0.0.1:{port}"
    finally:
        sim.terminate()
        sim.wait(timeout=10)


def start_run(url: str, corpus: Path, *output: str) -> subprocess.Popen[str]:
    command = [
        sys.executable, "-m", "loadgen", "run", "--url", url, "--num-clients", "3", "--duration", "90",
        "--audio-dir", str(corpus), "--limit", "3", "--settle", "0.5", *output,
    ]  # fmt: skip
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_lines(path: Path, count: int, timeout_s: float = 60.0) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        lines = path.read_text().count("\n") if path.exists() else 0
        if lines >= count:
            return lines
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} sessions in {path} after {timeout_s} s")


def test_sigkill_leaves_a_valid_jsonl_up_to_the_last_finished_session(simulator_url, short_corpus, tmp_path):
    run_dir = tmp_path / "run"
    out = run_dir / "sessions.jsonl"
    run = start_run(simulator_url, short_corpus, "--run-dir", str(run_dir))
    wait_for_lines(out, 4)
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=10)
    written = out.read_text()
    results, torn = read_results(out)
    assert not torn and written.endswith("\n")
    assert len(results) == written.count("\n") >= 4
    assert all(r.outcome == "ok" for r in results)  # only finished sessions were written
    assert not out.with_suffix(".summary.json").exists()
    # the run never said it ended: its report is built from what was written, marked interrupted
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"
    report = subprocess.run(
        [sys.executable, "-m", "loadgen", "report", str(run_dir)], cwd=REPO, capture_output=True, text=True
    )
    assert (run_dir / "report.md").exists(), report.stderr
    assert "interrupted" in (run_dir / "report.md").read_text()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_sigint_and_sigterm_stop_cleanly_with_every_session_and_the_summary(
    simulator_url, short_corpus, tmp_path, sig
):
    out = tmp_path / "sessions.jsonl"
    run = start_run(simulator_url, short_corpus, "--output-file", str(out))
    finished = wait_for_lines(out, 3)
    run.send_signal(sig)
    stdout, stderr = run.communicate(timeout=30)
    assert run.returncode == 130, stderr
    results, torn = read_results(out)
    assert not torn and len(results) >= finished
    cut = [r for r in results if r.outcome != "ok"]
    assert len(cut) <= 3  # at most the sessions in flight, each marked as ended by the generator
    assert all(r.error_kind == "interrupted" or r.outcome == "stopped" for r in cut)
    summary = json.loads(out.with_suffix(".summary.json").read_text())
    assert summary["manifest"]["interrupted"] is True
    assert summary["summary"]["sessions"] == len(results)
    assert "Latency" in stdout
