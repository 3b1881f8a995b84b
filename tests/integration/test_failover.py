"""A replica fails mid-run: 3 real tiny.en replicas behind nginx, 6 live clients with --reconnect, one
replica SIGKILLed (or SIGSTOPped) through the chaos module. Every session finishes; the ones it served
reconnect through the balancer and lose at most a few seconds of audio (a kill), or are revealed by pings
and resume when the replica does (a pause: a stopped process still accepts TCP, so nginx keeps routing
to it)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loadgen.chaos.faults import LocalChaos, event_appender, inject, parse_chaos
from loadgen.core.session_result import SUCCESSES, SessionResult
from loadgen.data.results_file import read_results
from tests.integration.conftest_stack import metrics_url, start_loadgen_run, wait_until_streaming

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
REPO = Path(__file__).resolve().parents[2]
CLIENTS = 6
MAX_AUDIO_LOST_S = 3.0


def run_with_chaos(local_stack, corpus: Path, tmp_path: Path, spec: str, files: int) -> list[SessionResult]:
    """`loadgen run --reconnect --run-dir tmp_path/run` (continuous, `files` files per client) with `spec`
    injected meanwhile, its time counted from the moment every client streams."""
    run_dir = tmp_path / "run"
    out, events = run_dir / "sessions.jsonl", run_dir / "events.jsonl"
    loadgen = start_loadgen_run(local_stack.balancer_url, corpus, run_dir, CLIENTS, files, "continuous")
    try:
        wait_until_streaming([metrics_url(s) for s in local_stack.replica_specs], CLIENTS, loadgen)
        target = LocalChaos(local_stack.run_dir)  # `python -m stack replica` acts on the stack
        asyncio.run(inject(parse_chaos(spec), target, event_appender(events), 0, time.monotonic()))
        stdout, _ = loadgen.communicate(timeout=180)
    finally:
        loadgen.kill()
    print(stdout[-3000:])
    results, torn = read_results(out)
    assert not torn and len(results) == CLIENTS
    assert loadgen.returncode == 0
    assert all(r.outcome in SUCCESSES for r in results), [(r.outcome, r.error_detail) for r in results]
    logged = [json.loads(line) for line in events.read_text().splitlines()]
    assert all(e["kind"] == "chaos" and e["step"] == 0 for e in logged)
    assert json.loads((run_dir / "run.json").read_text())["status"] == "complete"
    return results


def figures(results: list[SessionResult], affected: list[SessionResult]) -> str:
    return json.dumps(
        {
            "sessions": len(results),
            "affected": len(affected),
            "reconnect_s": sorted(round(s, 3) for r in affected for s in r.reconnect_s),
            "audio_lost_s": sorted(round(r.audio_lost_s, 3) for r in affected),
            "moved_to": sorted(r.replicas[-1] for r in affected),
            "wer": [round(r.word_errors.wer, 3) for r in results if r.word_errors],
            # per affected session: speech untranscribed by cause beside the words its transcript lost
            "untranscribed": [
                {
                    "uid": r.uid[:8],
                    **(r.untranscribed.to_json_dict() if r.untranscribed else {}),
                    "deleted_words": r.word_errors.deletions if r.word_errors else None,
                    "reference_words": r.word_errors.reference_words if r.word_errors else None,
                }
                for r in affected
            ],
        }
    )


def test_a_replica_killed_mid_run_every_session_recovers_on_another(local_stack, generated_corpus, tmp_path):
    results = run_with_chaos(local_stack, generated_corpus, tmp_path, "kill-replica:2@1", files=1)
    killed = local_stack.replica_addresses[1]
    affected = [r for r in results if r.replicas[0] == killed]
    assert affected, f"no session was on {killed}: {[r.replicas for r in results]}"
    for r in affected:
        assert r.outcome == "recovered" and r.reconnects == 1
        assert killed not in r.replicas[1:]
        assert 0 <= r.audio_lost_s <= MAX_AUDIO_LOST_S
        assert r.offline_s == pytest.approx(sum(r.reconnect_s))
        assert r.untranscribed is not None and r.untranscribed.gap_s <= r.audio_lost_s + 1e-3
    unaffected = [r for r in results if r not in affected]
    assert all(r.outcome == "ok" and r.reconnects == 0 for r in unaffected)
    print("KILL FIGURES", figures(results, affected))
    # the report of this run directory has its failure section, with the kill in it
    subprocess.run([sys.executable, "-m", "loadgen", "report", str(tmp_path / "run")], cwd=REPO, timeout=120)
    report = (tmp_path / "run" / "report.md").read_text()
    failures = report[report.index("## Failures and recovery") :]
    assert "SIGKILL" in failures and "whisperlive-2" in failures
    assert "affected sessions: speech untranscribed beside the words deleted" in failures
    print(failures[: failures.index("\n## ", 5)])


def test_a_paused_replica_is_revealed_by_pings_and_its_sessions_finish(
    local_stack, generated_corpus, tmp_path
):
    results = run_with_chaos(local_stack, generated_corpus, tmp_path, "pause-replica:1@0:20", files=3)
    paused = local_stack.replica_addresses[0]
    affected = [r for r in results if r.replicas[0] == paused]
    assert affected
    for r in affected:
        # pings (every 5 s, 10 s to answer) end the silent connection well before the pause does
        assert r.outcome == "recovered" and r.reconnects >= 1
        # the pause costs speech: sent to the stopped replica and never answered (in flight), and/or not
        # sent while reconnecting (gap); which of the two depends on how fast the reconnect lands
        assert r.audio_untranscribed_s is not None and r.audio_untranscribed_s > 0
    assert all(r.reconnects == 0 for r in results if r not in affected)
    print("PAUSE FIGURES", figures(results, affected))
