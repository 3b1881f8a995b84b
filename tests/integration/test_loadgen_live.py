"""The load generator end to end, through its real CLI, against a real tiny.en WhisperLive on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from loadgen.data.corpus import load_corpus
from loadgen.data.results_file import read_results
from tests.metrics_text import samples_of

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
LJSPEECH = Path(os.environ.get("LJSPEECH_DIR", REPO.parent / "shared" / "ljspeech"))
CHUNK_S = 0.256


def start_loadgen(server, out: Path, *args: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "loadgen", "run", "--url", server.url, "--output-file", str(out), *args]
    return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish_loadgen(proc: subprocess.Popen[str], out: Path, timeout: float = 400) -> tuple[int, list, dict]:
    stdout, stderr = proc.communicate(timeout=timeout)
    print(stdout[-4000:], stderr[-2000:])
    results, torn = read_results(out)
    assert not torn
    summary = json.loads(out.with_suffix(".summary.json").read_text())
    return proc.returncode, results, summary


def run_loadgen(server, tmp_path: Path, *args: str, timeout: float = 400) -> tuple[int, list, dict]:
    out = tmp_path / "sessions.jsonl"
    return finish_loadgen(start_loadgen(server, out, *args), out, timeout)


def ljspeech_subset(root: Path, clip_ids: list[str], into: Path) -> Path:
    """An LJSpeech-layout folder with only these clips: their lines of metadata.csv, and the clips' folder."""
    lines = (root / "metadata.csv").read_text(encoding="utf-8").splitlines()
    into.mkdir()
    kept = [line for line in lines if line.split("|", 1)[0].strip() in clip_ids]
    (into / "metadata.csv").write_text("\n".join(kept) + "\n", encoding="utf-8")
    (into / "wavs").symlink_to(root / "wavs")
    return into


def assert_healthy_lags(results) -> None:
    lags = [lag for r in results for lag in r.transcript_lags_s]
    assert lags, "no transcript lag samples"
    assert statistics.median(lags) > 0
    assert min(lags) > -CHUNK_S


@pytest.mark.skipif(not (LJSPEECH / "metadata.csv").exists(), reason=f"no LJSpeech clips at {LJSPEECH}")
def test_eight_real_recordings_on_two_streams_have_low_wer(whisperlive_server, tmp_path):
    # every word of eight real recordings is scored: two runs of one client each, at once, stream four
    clips = [u.name for u in load_corpus(LJSPEECH, limit=8).utterances]
    runs = []
    for i, half in enumerate((clips[:4], clips[4:])):
        audio_dir = ljspeech_subset(LJSPEECH, half, tmp_path / f"half{i}")
        out = tmp_path / f"sessions{i}.jsonl"
        runs.append(
            (start_loadgen(whisperlive_server, out, "--num-clients", "1", "--audio-dir", str(audio_dir)), out)
        )
    results = []
    for proc, out in runs:
        code, run_results, summary = finish_loadgen(proc, out)
        assert code == 0
        assert len(run_results) == 4 == summary["summary"]["sessions"]
        assert summary["summary"]["wer"] <= 0.15  # the run's own figure, of its four recordings
        results += run_results
    assert sorted(name for r in results for name in r.utterances) == sorted(clips)
    assert all(r.outcome == "ok" for r in results)
    assert_healthy_lags(results)
    errors = [r.word_errors for r in results if r.word_errors is not None]
    assert len(errors) == 8
    assert sum(e.errors for e in errors) / sum(e.reference_words for e in errors) <= 0.15


def test_three_clients_on_the_generated_corpus(whisperlive_server, generated_corpus, tmp_path):
    code, results, summary = run_loadgen(
        whisperlive_server,
        tmp_path,
        "--num-clients",
        "3",
        "--audio-dir",
        str(generated_corpus),
        "--duration",
        "5",  # every client starts one session or more; 3 stream at once
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
        "2",
    )
    assert code == 0
    [session] = results
    assert len(session.utterances) == 2
    speech_s = load_corpus(generated_corpus, limit=2).duration_s
    assert session.audio_sent_s == pytest.approx(speech_s + 1.0, abs=0.01)  # one 1 s gap
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


def streaming_sessions(metrics_port: int) -> tuple[float, float]:
    """loadgen's streaming sessions and audio chunks sent so far, from its /metrics (0, 0 until it serves)."""
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2).read().decode()
    except OSError:
        return 0.0, 0.0
    samples = samples_of(text)
    chunks = sum(v for (name, _), v in samples.items() if name == "loadgen_send_slip_seconds_count")
    return samples.get(("loadgen_active_clients", ()), 0.0), chunks


def test_ctrl_c_keeps_every_session_and_writes_the_summary(
    whisperlive_server, generated_corpus, tmp_path, free_port
):
    out = tmp_path / "sessions.jsonl"
    metrics_port = free_port()
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
            "--metrics-port",
            str(metrics_port),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:  # both clients streaming, for 2 s or more
        active, chunks = streaming_sessions(metrics_port)
        if active == 2 and chunks >= 2 * 8:
            break
        time.sleep(0.2)
    else:
        proc.kill()
        raise AssertionError(f"two sessions were not streaming: {streaming_sessions(metrics_port)}")
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
