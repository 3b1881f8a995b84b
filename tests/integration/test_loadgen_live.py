"""The load generator end to end, through its real CLI, against a real tiny.en WhisperLive on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loadgen.data.corpus import load_corpus
from loadgen.data.results_file import read_results

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
LJSPEECH = Path(os.environ.get("LJSPEECH_DIR", REPO.parent / "shared" / "ljspeech"))
CHUNK_S = 0.256


def run_loadgen(server, tmp_path: Path, *args: str, timeout: float = 400) -> tuple[int, list, dict]:
    out = tmp_path / "sessions.jsonl"
    cmd = [sys.executable, "-m", "loadgen", "run", "--url", server.url, "--output-file", str(out), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    print(proc.stdout[-4000:], proc.stderr[-2000:])
    results, torn = read_results(out)
    assert not torn
    summary = json.loads(out.with_suffix(".summary.json").read_text())
    return proc.returncode, results, summary


def assert_healthy_lags(results) -> None:
    lags = [lag for r in results for lag in r.transcript_lags_s]
    assert lags, "no transcript lag samples"
    assert statistics.median(lags) > 0
    assert min(lags) > -CHUNK_S


@pytest.mark.skipif(not (LJSPEECH / "metadata.csv").exists(), reason=f"no LJSpeech clips at {LJSPEECH}")
def test_one_client_on_real_speech_has_low_wer(whisperlive_server, tmp_path):
    code, results, summary = run_loadgen(
        whisperlive_server, tmp_path, "--num-clients", "1", "--audio-dir", str(LJSPEECH), "--limit", "8"
    )
    assert code == 0
    assert len(results) == 8 == summary["summary"]["sessions"]
    assert all(r.outcome == "ok" for r in results)
    assert_healthy_lags(results)
    assert summary["summary"]["wer"] <= 0.15


def test_three_clients_on_the_generated_corpus(whisperlive_server, generated_corpus, tmp_path):
    code, results, summary = run_loadgen(
        whisperlive_server,
        tmp_path,
        "--num-clients",
        "3",
        "--audio-dir",
        str(generated_corpus),
        "--duration",
        "15",  # every client starts one session or more; 3 stream at once
    )
    assert code == 0, [(r.outcome, r.error_detail) for r in results]
    assert {r.client for r in results} == {0, 1, 2}
    assert all(r.outcome == "ok" for r in results)
    assert summary["manifest"]["peak_streams"] == 3
    assert_healthy_lags(results)
    assert summary["summary"]["wer"] < 0.5
    assert summary["summary"]["send_slip"]["p99"] < 0.05


def test_continuous_mode_streams_files_back_to_back_in_one_session(
    whisperlive_server, generated_corpus, tmp_path
):
    code, results, _ = run_loadgen(
        whisperlive_server,
        tmp_path,
        "--mode",
        "continuous",
        "--audio-dir",
        str(generated_corpus),
        "--limit",
        "3",
    )
    assert code == 0
    [session] = results
    assert len(session.utterances) == 3
    speech_s = load_corpus(generated_corpus, limit=3).duration_s
    assert session.audio_sent_s == pytest.approx(speech_s + 2 * 1.0, abs=0.01)  # two 1 s gaps
    assert session.word_errors is not None and session.word_errors.reference_words > 20
    assert_healthy_lags(results)


def test_unreachable_server_is_one_clear_line_and_exit_4(generated_corpus, tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "loadgen",
            "run",
            "--port",
            "1",
            "--host",
            "127.0.0.1",
            "--audio-dir",
            str(generated_corpus),
            "--output-file",
            str(tmp_path / "x.jsonl"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert proc.returncode == 4
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach ws://127.0.0.1:1" in lines[0]


def test_ctrl_c_keeps_every_session_and_writes_the_summary(whisperlive_server, generated_corpus, tmp_path):
    out = tmp_path / "sessions.jsonl"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "loadgen",
            "run",
            "--url",
            whisperlive_server.url,
            "--num-clients",
            "2",
            "--audio-dir",
            str(generated_corpus),
            "--duration",
            "60",
            "--output-file",
            str(out),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(8)
    proc.send_signal(signal.SIGINT)
    stdout, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130
    results, torn = read_results(out)
    assert not torn and len(results) >= 2
    assert {r.error_kind for r in results if r.outcome != "ok"} <= {"interrupted"}
    summary = json.loads(out.with_suffix(".summary.json").read_text())
    assert summary["manifest"]["interrupted"] is True
    assert summary["summary"]["sessions"] == len(results)
    assert "Latency" in stdout
