"""Open-model arrivals and trace replay through `loadgen run`, against a simulator that answers at once."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from loadgen.cli.entry import main
from loadgen.core.arrivals import Arrival, gap_stats, mean_concurrency, offered_concurrency
from loadgen.core.records import StepRecord
from loadgen.core.session_result import SessionResult
from loadgen.data.results_file import read_results
from loadgen.data.run_dir import STEPS, RunDir
from loadgen.data.traces import write_trace
from tests.simulator_process import simulator

RATE, DURATION_S, LENGTH_S = 4.0, 60.0, 10.0


def _run(
    corpus: Path, port: int, out_dir: Path, *flags: str, timeout_s: float
) -> tuple[dict, list[SessionResult]]:
    """`loadgen run FLAGS` against a simulator that answers at once; its summary JSON and sessions."""
    out = out_dir / "sessions.jsonl"
    with simulator(corpus, port, out_dir / "sim.log", 1000, 0.01, 0.0) as url:
        command = [sys.executable, "-m", "loadgen", "run", "--url", url, "--audio-dir", str(corpus)]
        command += ["--settle", "0.3", "--output-file", str(out), *flags]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    print(next(line for line in done.stdout.splitlines() if line.startswith("offered concurrency")))
    return json.loads(out.with_suffix(".summary.json").read_text()), read_results(out)[0]


@pytest.mark.timeout(150)
def test_poisson_arrivals_keep_their_rate_gaps_and_littles_law(generated_corpus, free_port, tmp_path):
    """A minute of Poisson arrivals at 4/s of 10 s sessions: about 240 arrivals, so the rate's relative
    sd is 1/sqrt(240) = 6.5 % (15 % is 2.3 sd) and the gap CV's standard error about 1/sqrt(240) = 0.065
    (0.8-1.2 is 3 standard errors); Little's law offers 40 streams."""
    summary, results = _run(
        generated_corpus,
        free_port(),
        tmp_path,
        *("--arrival", "poisson", "--rate", str(RATE), "--duration", str(DURATION_S)),
        *("--session-length", f"fixed:{LENGTH_S:g}", "--chunk-ms", "250", "--seed", "1"),
        timeout_s=130,
    )
    t0 = summary["manifest"]["started_at"]
    starts = [r.started_at - t0 for r in results]
    gaps = gap_stats(starts, DURATION_S)
    window = (LENGTH_S, DURATION_S)
    achieved = mean_concurrency([(r.started_at - t0, (r.ended_at or 0) - t0) for r in results], *window)
    offered = offered_concurrency(RATE, LENGTH_S)
    print(
        f"poisson: {gaps.arrivals} arrivals in {DURATION_S:g} s, rate {gaps.rate:.3f}/s (R {RATE:g}), "
        f"gap CV {gaps.gap_cv:.3f}, achieved concurrency {achieved:.2f} vs offered {offered:.2f} "
        f"({achieved / offered - 1:+.1%}); sessions ok {summary['summary']['outcomes']['ok']}"
    )
    assert all(r.outcome == "ok" for r in results)
    assert summary["arrivals"]["achieved_concurrency"] == pytest.approx(achieved, abs=0.01)
    assert abs(gaps.rate / RATE - 1) <= 0.15
    assert 0.8 <= gaps.gap_cv <= 1.2
    assert abs(achieved / offered - 1) <= 0.15


@pytest.mark.timeout(60)
def test_a_trace_replayed_ten_times_faster_starts_each_session_within_50_ms(
    generated_corpus, free_port, tmp_path
):
    """20 sessions spread over 40 s of trace time, replayed at 10x: each starts within 50 ms of start/10."""
    trace = tmp_path / "trace.csv"
    starts = [round(2.0 * i + (0.7 if i % 3 else 0.0), 3) for i in range(20)]
    write_trace(trace, [Arrival(s, 5.0, None, "door") for s in starts])
    summary, results = _run(
        generated_corpus, free_port(), tmp_path, "--trace", str(trace), "--time-scale", "10", timeout_s=50
    )
    t0 = summary["manifest"]["started_at"]
    late = sorted((r.started_at - t0 - starts[r.client] / 10, r.client) for r in results)
    print(
        f"trace at 10x: {len(results)} sessions, start late min {late[0][0] * 1000:.1f} ms, "
        f"max {late[-1][0] * 1000:.1f} ms (session {late[-1][1]}); every session {results[0].utterances}"
    )
    assert sorted(r.client for r in results) == list(range(20))
    assert all(abs(x) <= 0.050 for x, _ in late)
    assert all(r.utterances == ["door"] and math.isclose(r.audio_sent_s, 5.0, abs_tol=0.01) for r in results)


@pytest.mark.timeout(120)
def test_a_rate_mode_ramp_and_soak_answer_in_arrival_rate_and_streams(generated_corpus, free_port, tmp_path):
    """Against a simulator whose lag jumps above 16 streams: 2 sessions/s of 4 s sessions offers 8 streams
    (passes: 16 is 2.8 sd of a Poisson count of 8 above), 8/s offers 32 (fails); the answer is 2/s and
    the streams its step produced. A soak at 2/s holds its rate for one window. Every session streams the
    4.0 s "door" utterance (a session holds at least one whole file, so longer files would lengthen
    it). The seeded arrivals at 2/s are those at 1/s twice as fast: with the sessions, fill, warm-up and
    hold halved, the first step sees the arrivals 1/s of 8 s sessions held 6 s would, in half the time.
    Seed 2: at its arrival times the first window averages 8.4 streams (sessions of 4.5 s: the 4 s and a
    0.5 s tail), mid-range; seed 1's averages 11.0, at the bound."""
    corpus = tmp_path / "door"
    corpus.mkdir()
    for suffix in (".wav", ".txt"):
        shutil.copy(generated_corpus / f"door{suffix}", corpus / f"door{suffix}")
    flags = ["--arrival", "poisson", "--session-length", "fixed:4", "--settle", "0.3", "--profile", "cpu"]
    flags += ["--warmup", "0.5", "--seed", "2", "--no-live"]
    port = free_port()
    with simulator(corpus, port, tmp_path / "sim.log", 16, 0.05, 1.0) as url:
        common = ["--url", url, "--audio-dir", str(corpus), *flags]
        ramp_code = main(
            ["ramp", *common, "--rates", "2,8", "--hold", "3", "--run-dir", str(tmp_path / "ramp")]
        )
        soak_code = main(["soak", *common, "--rate", "2", "--duration", "4", "--window", "4",
                          "--run-dir", str(tmp_path / "soak")])  # fmt: skip
    ramp = RunDir(tmp_path / "ramp")
    steps = [StepRecord.from_json(r) for r in ramp.read_records(STEPS)[0]]
    outcome = ramp.read_manifest()["outcome"]
    print(
        f"rate ramp: steps {[(s.rate, s.passed, s.window.active_clients.avg) for s in steps if s.window]}, "
        f"answer {outcome['reason']}"
    )
    assert ramp_code == 0
    assert [(s.clients, s.rate, s.passed) for s in steps] == [(1, 2.0, True), (2, 8.0, False)]
    assert outcome["rate"] == 2.0 and outcome["first_failure_rate"] == 8.0
    assert 6.0 <= outcome["concurrency"] <= 11.0  # Little's law offers 8 (+ the sessions' tails)
    report = (ramp.path / "report.md").read_text()
    assert "| rate (/s) |" in report and "| max arrival rate | 2 sessions/s (level 1) |" in report
    soak = [StepRecord.from_json(r) for r in RunDir(tmp_path / "soak").read_records(STEPS)[0]]
    print(f"rate soak: windows {[(s.rate, s.passed, s.window.active_clients.avg) for s in soak if s.window]}")
    assert soak_code == 0 and [(s.rate, s.passed) for s in soak] == [(2.0, True)]
