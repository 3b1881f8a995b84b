"""Load through the balancer: 3 real tiny.en replicas behind nginx, 6 live clients, Prometheus watching."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from loadgen.results_file import read_results

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def test_six_clients_through_nginx_spread_over_every_replica(local_stack, generated_corpus, tmp_path):
    out = tmp_path / "sessions.jsonl"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "loadgen",
            "run",
            "--url",
            local_stack.balancer_url,
            "--num-clients",
            "6",
            "--duration",
            "45",
            "--connect-rate",
            "2",
            "--audio-dir",
            str(generated_corpus),
            "--output-file",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=400,
        cwd=REPO,
    )
    print(proc.stdout[-5000:], proc.stderr[-2000:])
    results, _ = read_results(out)
    assert proc.returncode == 0, [
        (r.outcome, r.error_kind, r.error_detail) for r in results if r.outcome != "ok"
    ]
    assert all(r.outcome == "ok" for r in results)
    served = Counter(r.replica for r in results)
    assert set(served) == set(local_stack.replica_addresses), served
    assert "Distribution over replicas" in proc.stdout

    query = urllib.parse.urlencode({"query": "up"})
    with urllib.request.urlopen(f"{local_stack.prometheus_url}/api/v1/query?{query}", timeout=10) as response:
        targets = json.load(response)["data"]["result"]
    assert targets, "Prometheus scrapes nothing"
    assert {t["metric"]["instance"]: t["value"][1] for t in targets} == {
        t["metric"]["instance"]: "1" for t in targets
    }
