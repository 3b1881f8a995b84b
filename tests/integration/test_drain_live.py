"""A replica stopped mid-stream drains: 3 real tiny.en replicas behind nginx, 6 live clients (one session
each, `--reconnect`), SIGTERM to replica 2 while it serves streams, then 2 more clients. Its open streams
run to their end on it (no reconnect, no audio lost), new streams go to the other two (its listener is
closed, nginx moves on), and it exits by itself once they have ended, well within its grace period. With a
grace period shorter than the streams, the ones still open are closed with 1001 and resume on another
replica."""

from __future__ import annotations

import dataclasses
import json
import re
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from loadgen.core.session_result import OK, SessionResult
from loadgen.data.results_file import read_results
from tests.integration.conftest_stack import (
    active_streams,
    metrics_url,
    start_loadgen_run,
    wait_until_streaming,
)
from whisperlive.readiness import wait_until_ready
from whisperlive.replica import start_replica, stop_replica

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]
CLIENTS = 6
LATER_CLIENTS = 2  # started once the replica got SIGTERM, one session each
DRAINED = 2  # the replica that gets SIGTERM (1-based, as the stack names them)
CHUNK_S = 0.256  # the load generator's default --chunk-ms
MAX_DRAIN_S = 60.0
SHORT_GRACE_S = 2.0


def sigterm_when_serving(
    replica_url: str, stack_urls: list[str], pid: int, loadgen: subprocess.Popen[str]
) -> float:
    """Wait until every client streams (the replicas at `stack_urls` hold CLIENTS streams), at least one
    of them on the replica at `replica_url`, then SIGTERM it; the wall time. Not a fixed count on the
    replica: nginx sends a replica it marked failed (max_fails) one stream until that stream ends."""
    wait_until_streaming(stack_urls, CLIENTS, loadgen)
    assert active_streams(replica_url) >= 1, f"{replica_url}: every client streams, none on the replica"
    sent_at = time.time()
    psutil.Process(pid).send_signal(signal.SIGTERM)
    return sent_at


def in_flight(results: list[SessionResult], at: float) -> list[SessionResult]:
    """Each client's session that had started last by `at` (a client runs its sessions one by one)."""
    latest: dict[int, SessionResult] = {}
    for r in results:
        if r.started_at <= at and (r.client not in latest or r.started_at > latest[r.client].started_at):
            latest[r.client] = r
    return list(latest.values())


def test_a_replica_stopped_mid_stream_lets_its_streams_finish(local_stack, generated_corpus, tmp_path):
    run_dir, later_dir = tmp_path / "run", tmp_path / "later"
    url = local_stack.balancer_url
    loadgen = start_loadgen_run(url, generated_corpus, run_dir, CLIENTS, 1, "per-file")
    newcomers: subprocess.Popen[str] | None = None
    try:
        replica = psutil.Process(local_stack.processes[f"whisperlive-{DRAINED}"].pid)
        urls = [metrics_url(spec) for spec in local_stack.replica_specs]
        sent_at = sigterm_when_serving(urls[DRAINED - 1], urls, replica.pid, loadgen)
        newcomers = start_loadgen_run(url, generated_corpus, later_dir, LATER_CLIENTS, 1, "per-file")
        exit_code = replica.wait(MAX_DRAIN_S)  # None when subprocess's reaper collected it first
        drained_s = time.time() - sent_at
        stdout, _ = loadgen.communicate(timeout=240)
        later_stdout, _ = newcomers.communicate(timeout=240)
    finally:
        loadgen.kill()
        if newcomers is not None:
            newcomers.kill()
    print(stdout[-2000:], later_stdout[-1000:])
    assert loadgen.returncode == 0 and newcomers.returncode == 0
    first, torn = read_results(run_dir / "sessions.jsonl")
    assert not torn and len(first) == CLIENTS
    second, torn = read_results(later_dir / "sessions.jsonl")
    assert not torn and len(second) == LATER_CLIENTS
    results = first + second
    address = local_stack.replica_addresses[DRAINED - 1]
    affected = [r for r in in_flight(first, sent_at) if r.replicas and r.replicas[0] == address]
    later = [r for r in results if r.started_at > sent_at + 1.0]  # nginx may still be mid-connect at once
    log = Path(local_stack.log_path(f"whisperlive-{DRAINED}")).read_text()
    drain_line = re.findall(r"drained in .*", log)[-1]
    print(
        "DRAIN FIGURES",
        json.dumps(figures(results, affected, later, address, drained_s, drain_line, exit_code)),
    )

    assert exit_code in (None, 0)
    assert drained_s < MAX_DRAIN_S and "cut at the grace period" not in drain_line
    ended = int(re.findall(r"(\d+) stream\(s\) ended on their own", drain_line)[0])
    # every stream the replica drained is some client's latest session at the SIGTERM
    assert 1 <= ended <= len(affected), (drain_line, [r.uid for r in affected])
    for r in affected:  # finished where they were, every chunk sent, transcribed like the rest
        assert (r.outcome, r.reconnects, r.replicas) == (OK, 0, [address]), r.error_detail
        assert r.audio_lost_s <= CHUNK_S and r.audio_sent_s > 0
        assert r.word_errors is not None and r.word_errors.wer <= worst_wer(results, affected) + 0.1
    assert later and all(address not in r.replicas for r in later)
    assert all(r.outcome == OK and r.reconnects == 0 for r in results), [
        (r.outcome, r.error_detail) for r in results if r.outcome != OK
    ]


def test_streams_open_at_the_end_of_the_grace_period_resume_on_another_replica(
    local_stack, generated_corpus, tmp_path
):
    # replica 2 again, on its own ports, with a grace shorter than the (continuous) sessions
    idle = psutil.Process(local_stack.processes[f"whisperlive-{DRAINED}"].pid)
    idle.send_signal(signal.SIGTERM)  # no streams: it exits at once
    idle.wait(30)
    base = local_stack.replica_specs[DRAINED - 1]
    spec = dataclasses.replace(
        base,
        log_path=tmp_path / "short-grace.log",
        extra_args=(*base.extra_args, "--drain-grace", f"{SHORT_GRACE_S:g}"),
    )
    process = start_replica(spec)
    try:
        wait_until_ready(spec.ready_url, 240, process=process, log_path=spec.log_path)
        run_dir = tmp_path / "run"
        url = local_stack.balancer_url
        # one file per client (~7 s and a settling tail): a stream outlasts the SIGTERM by the grace
        loadgen = start_loadgen_run(url, generated_corpus, run_dir, CLIENTS, 1, "continuous")
        try:
            urls = [metrics_url(s) for s in local_stack.replica_specs if s != base] + [metrics_url(spec)]
            sent_at = sigterm_when_serving(metrics_url(spec), urls, process.pid, loadgen)
            exit_code = process.wait(MAX_DRAIN_S)
            drained_s = time.time() - sent_at
            stdout, _ = loadgen.communicate(timeout=240)
        finally:
            loadgen.kill()
    finally:
        stop_replica(process)
    print(stdout[-1500:])
    assert loadgen.returncode == 0
    results, torn = read_results(run_dir / "sessions.jsonl")
    assert not torn and len(results) == CLIENTS
    address = local_stack.replica_addresses[DRAINED - 1]
    affected = [r for r in results if r.replicas and r.replicas[0] == address]
    drain_line = re.findall(r"drained in .*", spec.log_path.read_text())[-1]
    print(
        "CUT FIGURES",
        json.dumps(figures(results, affected, [], address, drained_s, drain_line, exit_code)),
    )
    assert exit_code == 0 and SHORT_GRACE_S <= drained_s < SHORT_GRACE_S + 10
    cut = int(re.findall(r"(\d+) cut at the grace period", drain_line)[0])
    assert cut == len(affected) >= 1, (drain_line, [r.replicas for r in affected])
    for r in affected:  # closed with 1001, resumed at once elsewhere: at most one chunk never sent
        assert (r.outcome, r.reconnects) == ("recovered", 1), r.error_detail
        assert address not in r.replicas[1:]
        assert r.audio_lost_s <= CHUNK_S
    assert all((r.outcome, r.reconnects) == (OK, 0) for r in results if r not in affected)


def worst_wer(results: list[SessionResult], affected: list[SessionResult]) -> float:
    """The highest WER among the sessions the drain did not touch."""
    return max(r.word_errors.wer for r in results if r not in affected and r.word_errors is not None)


def figures(
    results: list[SessionResult],
    affected: list[SessionResult],
    later: list[SessionResult],
    address: str,
    drained_s: float,
    drain_line: str,
    exit_code: int | None,
) -> dict[str, object]:
    return {
        "sessions": len(results),
        "in_flight_on_drained_replica": [
            {
                "uid": r.uid,
                "outcome": r.outcome,
                "reconnects": r.reconnects,
                "replicas": r.replicas,
                "audio_sent_s": round(r.audio_sent_s, 3),
                "audio_lost_s": round(r.audio_lost_s, 3),
                "wer": round(r.word_errors.wer, 3) if r.word_errors else None,
                "hypothesis": r.hypothesis,
                "reference": r.reference,
            }
            for r in affected
        ],
        "started_after_sigterm": len(later),
        "of_those_on_drained_replica": sum(address in r.replicas for r in later),
        "outcomes": sorted({r.outcome for r in results}),
        "wer_all": [round(r.word_errors.wer, 3) for r in results if r.word_errors],
        "sigterm_to_exit_s": round(drained_s, 2),
        "exit_code": exit_code,
        "replica_log": drain_line,
    }
