"""A replica dies mid-run: 3 real tiny.en replicas behind nginx, 6 live clients with --reconnect, one
replica SIGKILLed through the chaos module. Every session finishes; the ones it served reconnect through
the balancer to another replica and lose at most a few seconds of audio."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loadgen.chaos import LocalChaos, act_and_log, event_appender
from loadgen.results_file import read_results
from loadgen.session_result import SUCCESSES

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]
REPO = Path(__file__).resolve().parents[2]
CLIENTS = 6
KILL_AFTER_S = 12.0  # every client is streaming by then (connect rate 5/s, first READY within seconds)
MAX_AUDIO_LOST_S = 3.0
KILLED = 2


def test_a_replica_killed_mid_run_every_session_recovers_on_another(local_stack, generated_corpus, tmp_path):
    out, events = tmp_path / "sessions.jsonl", tmp_path / "events.jsonl"
    command = [
        sys.executable, "-m", "loadgen", "run", "--url", local_stack.balancer_url,
        "--num-clients", str(CLIENTS), "--mode", "continuous", "--audio-dir", str(generated_corpus),
        "--limit", "4", "--reconnect", "--output-file", str(out),
    ]  # fmt: skip
    loadgen = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(KILL_AFTER_S)
        assert loadgen.poll() is None, loadgen.communicate()[0]
        act_and_log(LocalChaos(local_stack), "kill", KILLED, event_appender(events), step=None)
        stdout, _ = loadgen.communicate(timeout=180)
    finally:
        loadgen.kill()
    print(stdout[-3000:])
    killed = local_stack.replica_addresses[KILLED - 1]
    results, torn = read_results(out)
    assert not torn and len(results) == CLIENTS
    assert loadgen.returncode == 0
    assert all(r.outcome in SUCCESSES for r in results), [(r.outcome, r.error_detail) for r in results]

    affected = [r for r in results if r.replicas[0] == killed]
    assert affected, f"no session was on {killed}: {[r.replicas for r in results]}"
    for r in affected:
        assert r.outcome == "recovered" and r.reconnects == 1
        assert killed not in r.replicas[1:]
        assert 0 <= r.audio_lost_s <= MAX_AUDIO_LOST_S
        assert r.offline_s == pytest.approx(sum(r.reconnect_s))
    unaffected = [r for r in results if r not in affected]
    assert all(r.outcome == "ok" and r.reconnects == 0 for r in unaffected)
    [event] = [json.loads(line) for line in events.read_text().splitlines()]
    assert (event["kind"], event["action"], event["target"]) == ("chaos", "kill", f"whisperlive-{KILLED}")
    figures = {
        "sessions": len(results),
        "affected": len(affected),
        "reconnect_s": sorted(round(s, 3) for r in affected for s in r.reconnect_s),
        "audio_lost_s": sorted(round(r.audio_lost_s, 3) for r in affected),
        "moved_to": sorted(r.replicas[-1] for r in affected),
        "wer_affected": [round(r.word_errors.wer, 3) for r in affected if r.word_errors],
        "wer_unaffected": [round(r.word_errors.wer, 3) for r in unaffected if r.word_errors],
    }
    print("FAILOVER FIGURES", json.dumps(figures))
