"""The ramp Job's start barrier (k8s/ramp/aligned-start.sh), run as the three shards' init containers
would be: the same step-0 time for all, each released within the half period before it."""

from __future__ import annotations

import math
import subprocess
import time
from pathlib import Path

from stack.render import ROOT

SCRIPT = ROOT / "k8s" / "ramp" / "aligned-start.sh"
ALIGN = 2  # seconds; the Job uses 60


def start_shard(run_dir: Path, index: int, lead: int = 4) -> subprocess.Popen[str]:
    env = {"PATH": "/usr/bin:/bin", "RUN_DIR": str(run_dir), "SHARD_INDEX": str(index), "ALIGN": str(ALIGN)}
    return subprocess.Popen(
        ["sh", str(SCRIPT)],
        env={**env, "LEAD": str(lead)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_three_shards_get_one_step_zero_and_are_released_in_the_same_period(tmp_path):
    run_dir = tmp_path / "runs" / "uid"
    followers = [start_shard(run_dir, 2), start_shard(run_dir, 1)]  # before shard 0: they must wait for it
    time.sleep(0.5)
    shards = [start_shard(run_dir, 0), *followers]
    released = []
    for shard in shards:
        shard.wait(timeout=15)
        released.append(time.time())
        assert shard.returncode == 0, shard.stderr.read()
    start = int((run_dir / "start-at").read_text())
    assert start % ALIGN == 0
    for shard, at in zip(shards, released, strict=True):
        assert f"step 0 at {start} " in shard.stdout.read()
        assert start - ALIGN / 2 - 1 <= at < start - ALIGN / 2 + 0.5  # within the second before T - A/2
        assert math.floor(at / ALIGN) * ALIGN + ALIGN == start  # what `--align` picks from here


def test_a_shard_past_the_half_period_fails_with_one_line(tmp_path):
    (tmp_path / "start-at").write_text(f"{int(time.time())}\n")
    late = start_shard(tmp_path, 1)
    late.wait(timeout=10)
    assert late.returncode == 1
    assert late.stderr.read().strip().endswith("; rerun the Job")


def test_a_shard_gives_up_when_shard_0_publishes_nothing(tmp_path):
    follower = start_shard(tmp_path, 1, lead=1)
    follower.wait(timeout=10)
    assert follower.returncode == 1
    assert "shard 0 published no start time" in follower.stderr.read()
