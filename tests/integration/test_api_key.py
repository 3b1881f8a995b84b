"""WhisperLive's API key: a real tiny.en replica started with one (whisper-live 0.10.0 checks
`Authorization: Bearer KEY` on the WebSocket upgrade); the load generator sends it with --api-key or
$WHISPERLIVE_API_KEY, and a missing key is classified as a rejected handshake that names the flag."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from loadgen.core.protocol import API_KEY_ENV, StreamOptions
from loadgen.core.session_result import SessionResult
from loadgen.core.stream_audio import build_plan
from loadgen.data.results_file import read_results
from loadgen.live.session import SessionSettings, StreamSession
from loadgen.telemetry.metrics import LoadgenMetrics
from whisperlive.readiness import wait_until_ready
from whisperlive.replica import ReplicaSpec, start_replica, stop_replica

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
REPO = Path(__file__).resolve().parents[2]
KEY = "test-key-" + uuid.uuid4().hex[:8]
POD_NAME = "whisperlive-7d9f-abcde"  # what Kubernetes' downward API puts in $POD_NAME


@pytest.fixture(scope="module")
def keyed_replica(tmp_path_factory) -> Iterator[str]:
    from tests.integration.conftest import _free_port

    log = tmp_path_factory.mktemp("keyed") / "replica.log"
    spec = ReplicaSpec(port=_free_port(), metrics_port=_free_port(), log_path=log, omp_threads=1)
    process = start_replica(spec, env={API_KEY_ENV: KEY, "POD_NAME": POD_NAME})
    try:
        wait_until_ready(spec.url, 180, process=process, log_path=log, api_key=KEY)
        yield spec.url
    finally:
        stop_replica(process)


def test_with_the_key_every_session_is_served_and_the_key_is_never_written(
    keyed_replica, generated_corpus, tmp_path
):
    out = tmp_path / "sessions.jsonl"
    command = [
        sys.executable, "-m", "loadgen", "run", "--url", keyed_replica, "--audio-dir", str(generated_corpus),
        "--limit", "1", "--settle", "1", "--output-file", str(out), "--api-key", KEY,
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != API_KEY_ENV}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    [result] = read_results(out)[0]
    assert result.outcome == "ok" and result.hypothesis
    assert result.replica == POD_NAME  # the announced name (X-Replica) is the replica label
    manifest = json.loads(out.with_suffix(".summary.json").read_text())["manifest"]
    assert manifest["arguments"]["api_key"] == "<redacted>"
    assert KEY not in out.with_suffix(".summary.json").read_text() + out.read_text()


@pytest.mark.parametrize(("key", "status"), [(None, 401), ("wrong-key", 401)])
async def test_without_the_right_key_the_upgrade_is_rejected_and_named(keyed_replica, key, status):
    settings = SessionSettings(url=keyed_replica, options=StreamOptions(uid=""), api_key=key)
    result = SessionResult(0, 0, str(uuid.uuid4()), ["x"], time.time())
    plan = build_plan([np.zeros(1600, dtype=np.float32)])
    await StreamSession(settings, plan, result, None, LoadgenMetrics()).run()
    assert (result.outcome, result.error_kind) == ("error", "handshake_rejected")
    assert result.error_detail == f"HTTP {status} on upgrade: wrong or missing --api-key"


async def test_the_replica_announces_its_name_in_the_handshake(keyed_replica):
    """`--replica-name` / $POD_NAME: every upgrade answers with X-Replica, the pod name on Kubernetes."""
    from websockets.asyncio.client import connect

    async with connect(keyed_replica, additional_headers={"Authorization": f"Bearer {KEY}"}) as ws:
        assert ws.response is not None
        assert ws.response.headers["X-Replica"] == POD_NAME
