"""`loadgen ramp --chaos`: a replica of the local stack is SIGKILLed mid-step; the ramp's sessions
reconnect through the balancer, the kill is in events.jsonl and the report's recovery section shows it.

The stack runs the simulator backend (3 replicas): the generator's fault injection and recovery are
under test; tests/integration/test_failover.py does the same against real WhisperLive replicas.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from loadgen.data.run_dir import EVENTS, SUMMARY, RunDir
from stack.local import LocalStack
from stack.render import ROOT

pytestmark = pytest.mark.integration


@pytest.mark.timeout(180)
def test_ramp_kills_a_replica_mid_step_and_sessions_recover(
    simulator_stack: LocalStack, generated_corpus, tmp_path
) -> None:
    run_dir = tmp_path / "ramp"
    argv = [sys.executable, "-m", "loadgen", "ramp", "--url", simulator_stack.balancer_url]
    argv += ["--steps", "6", "--warmup", "1", "--hold", "6", "--connect-rate", "20", "--no-live"]
    argv += ["--mode", "continuous", "--session-length", "60", "--reconnect"]
    argv += ["--chaos", "kill-replica:2@2", "--stack-dir", str(simulator_stack.run_dir)]
    argv += ["--audio-dir", str(generated_corpus), "--run-dir", str(run_dir)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=150, cwd=ROOT)
    assert done.returncode in (0, 1), done.stdout + done.stderr

    events, _ = RunDir(run_dir).read_records(EVENTS)
    assert [(e["action"], e["target"], e["step"]) for e in events] == [("kill", "whisperlive-2", 0)]
    sessions, _ = RunDir(run_dir).read_sessions()
    moved = [s for s in sessions if s.reconnects]
    assert moved, "the killed replica's sessions reconnected"
    for session in moved:
        assert session.replicas[0] != session.replicas[-1]  # reconnected to another replica
        assert session.audio_lost_s <= 3.0
    recovery = json.loads((run_dir / SUMMARY).read_text())["recovery"]
    print({k: v for k, v in recovery.items() if k != "chaos_events"})
    assert recovery["affected"] == recovery["recovered"] == len(moved) and recovery["never_recovered"] == 0
    assert "127.0.0.1" in next(iter(recovery["share_after"])) and len(recovery["share_after"]) == 2
    report = (run_dir / "report.md").read_text()
    assert "kill" in report and "whisperlive-2" in report
