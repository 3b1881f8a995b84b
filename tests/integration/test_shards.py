"""Sharded load: K=3 `loadgen ramp --shard i/3` processes against the local stack step together on the
wall clock with no coordinator, and their merged steps equal one unsharded run's client counts.

The stack runs the simulator backend (3 replicas, no overload): what is tested is the generators'
alignment and merge, not the servers.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from loadgen.core.records import StepRecord
from loadgen.core.shards import merge_steps
from loadgen.core.verdict import Thresholds
from loadgen.data.run_dir import STEPS, SUMMARY, RunDir
from stack.local import LocalStack
from stack.render import ROOT

pytestmark = pytest.mark.integration

SHARDS = 3
STEPS_ARG = "3,6,9"
FAST = ["--warmup", "1", "--hold", "1", "--ramp-timeout", "2", "--connect-rate", "20", "--no-live"]
START_LEAD_S = 8  # every shard process is up and connected before step 0


def _ramp(stack: LocalStack, corpus: Path, run_dir: Path, *extra: str) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "loadgen", "ramp", "--url", stack.balancer_url, "--steps", STEPS_ARG]
    argv += [*FAST, "--audio-dir", str(corpus), "--run-dir", str(run_dir), *extra]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)


def _finish(process: subprocess.Popen[str]) -> str:
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 0, out
    return out


@pytest.mark.timeout(300)
def test_three_shards_step_together_and_merge_to_the_unsharded_counts(
    simulator_stack: LocalStack, generated_corpus: Path, tmp_path: Path, free_port: Callable[[], int]
) -> None:
    sharded = tmp_path / "sharded"
    start_at = f"{time.time() + START_LEAD_S:.3f}"
    shards = [
        _ramp(
            simulator_stack,
            generated_corpus,
            sharded,
            "--shard",
            f"{i}/{SHARDS}",
            "--start-at",
            start_at,
            "--metrics-port",
            str(free_port()),
        )
        for i in range(SHARDS)
    ]
    outputs = [_finish(p) for p in shards]
    single = tmp_path / "single"
    _finish(_ramp(simulator_stack, generated_corpus, single))

    records, torn = RunDir(sharded).read_records(STEPS)
    assert not torn and len(records) == SHARDS * 3
    by_step = [sorted(r["clients"] for r in records if r["index"] == i) for i in range(3)]
    assert by_step == [[1, 1, 1], [2, 2, 2], [3, 3, 3]]
    merged = [m.to_json_dict() for m in merge_steps([StepRecord.from_json(r) for r in records], Thresholds())]
    unsharded, _ = RunDir(single).read_records(STEPS)
    assert [m["clients"] for m in merged] == [u["clients"] for u in unsharded] == [3, 6, 9]
    for step in merged:
        print(f"step {step['index']}: {step['clients']} clients, start spread {step['start_spread_s']} s")
        assert step["start_spread_s"] <= 1.0
        assert step["window"]["active_clients"]["max"] == step["clients"]
        assert step["window"]["transcript_lag"]["count"] > 0
        assert step["verdict"]["passed"], step["verdict"]
    # shard 0 waited for the others, printed the merged table and wrote the merged report
    assert "max concurrent connections: 9" in outputs[0], outputs[0]
    summary = json.loads((sharded / SUMMARY).read_text())
    assert [row["clients"] for row in summary["rows"]] == [3, 6, 9]
    print(outputs[0][-1500:])
