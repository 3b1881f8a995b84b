"""scripts/step_load.sh: its --help, and a real ramp through it against `loadgen simulate`."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.simulator_process import FAST_RAMP, simulator

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "step_load.sh"


def test_help_describes_the_script_and_the_ramp_flags():
    done = subprocess.run([str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "--compose" in done.stdout and "--steps" in done.stdout and "--profile" in done.stdout


@pytest.mark.timeout(60)
def test_the_script_drives_a_ramp_with_the_local_defaults(generated_corpus, free_port, tmp_path):
    env = {**os.environ, "PROMETHEUS_URL": "", "METRICS_PORT": "0", "AUDIO_DIR": str(generated_corpus)}
    # the cpu profile's SLO is 1.5 s: 2 streams answer 2.1 s late
    with simulator(
        generated_corpus, free_port(), tmp_path / "sim.log", capacity=1, per_stream_lag=2.0
    ) as url:
        done = subprocess.run(
            [
                str(SCRIPT),
                "--url",
                url,
                "--steps",
                "1,2",
                *FAST_RAMP,
                "--run-dir",
                str(tmp_path / "run"),
            ],
            capture_output=True,
            text=True,
            timeout=50,
            env=env,
            check=False,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "max concurrent connections: 1" in done.stdout
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    assert manifest["profile"]["name"] == "cpu"  # the script's default for the local stack
    assert manifest["url"] == url and manifest["prometheus_url"] is None
