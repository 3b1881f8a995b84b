"""The p95 lag alert end to end: an overloaded stack, Prometheus firing the shared rule, Alertmanager
receiving it (its API) and notifying a webhook receiver.

The local stack runs the simulator backend (no model, so the overload is cheap and its lag is known):
2 replicas that each carry 1 stream at 0.2 s lag (inside the 0.5 s SLO) and 1.0 s more per further
stream; 4 clients put 2 streams on each, so the transcript lag is about 1.2 s.

Timing: the rules are prometheus/rules/alerts.yml unchanged (`for: 1m`); the local stack evaluates them
every 5 s, the scrape interval, as Compose does. The p95 recording rule needs two scrapes of lag samples
(~10-15 s), then the alert is pending for 1 min, so it reaches Alertmanager ~80 s after the load starts.
That is short enough that no shorter evaluation interval is needed, and none is used.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from stack.local import LocalStack, SimulatorSettings, StackSettings
from stack.ports import LocalPorts, free_base_port
from stack.render import ALERTMANAGER_CONFIG, ROOT

pytestmark = pytest.mark.integration

ALERT = "TranscriptLagP95AboveSLO"
REPLICAS = 2
CLIENTS = 4
ARRIVAL_TIMEOUT_S = 170  # the expected ~80 s, with room for a slow machine
OVERLOAD = SimulatorSettings(capacity=1, base_lag_s=0.2, per_stream_lag_s=1.0)


class Webhook(ThreadingHTTPServer):
    """A webhook receiver on 127.0.0.1: keeps every JSON body Alertmanager posts."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        super().__init__(("127.0.0.1", 0), _Receive)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/alerts"


class _Receive(BaseHTTPRequestHandler):
    server: Webhook

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.server.bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    server = Webhook()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def overloaded_stack(tmp_path: Path, webhook: Webhook, generated_corpus: Path) -> Iterator[LocalStack]:
    """The simulator stack, its Alertmanager config the repository's with a webhook on the default
    receiver: what a user does to be notified (alertmanager/alertmanager.yml says how)."""
    config = yaml.safe_load((ROOT / ALERTMANAGER_CONFIG).read_text())
    [default] = [r for r in config["receivers"] if r["name"] == config["route"]["receiver"]]
    default["webhook_configs"] = [{"url": webhook.url, "send_resolved": True}]
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    settings = StackSettings(
        replicas=REPLICAS,
        run_dir=tmp_path / "stack",
        ports=LocalPorts(free_base_port(REPLICAS)),
        simulator=SimulatorSettings(
            generated_corpus, OVERLOAD.capacity, OVERLOAD.base_lag_s, OVERLOAD.per_stream_lag_s
        ),
        alertmanager_config=path,
        ready_timeout_s=60,
    )
    with LocalStack(settings) as stack:
        yield stack


def get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def active_alerts(stack: LocalStack) -> list[dict]:
    """Alertmanager's alerts (GET /api/v2/alerts), active ones only."""
    alerts = get_json(f"{stack.alertmanager_url}/api/v2/alerts")
    assert isinstance(alerts, list)
    return [a for a in alerts if a["status"]["state"] == "active"]


def start_load(stack: LocalStack, corpus: Path) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "loadgen", "run", "--url", stack.balancer_url]
    argv += ["--num-clients", str(CLIENTS), "--connect-rate", "10", "--duration", str(ARRIVAL_TIMEOUT_S)]
    argv += ["--audio-dir", str(corpus), "--metrics-port", str(stack.settings.ports.loadgen_metrics)]
    argv += ["--output-file", str(stack.run_dir / "sessions.jsonl"), "--settle", "0.5"]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)


def wait_for_alert(stack: LocalStack, load: subprocess.Popen[str]) -> tuple[dict, float]:
    started = time.monotonic()
    while time.monotonic() - started < ARRIVAL_TIMEOUT_S:
        assert load.poll() is None, f"the load ended early ({load.returncode})"
        if arrived := [a for a in active_alerts(stack) if a["labels"]["alertname"] == ALERT]:
            return arrived[0], time.monotonic() - started
        time.sleep(2)
    rules = get_json(f"{stack.prometheus_url}/api/v1/rules?type=alert")
    pytest.fail(f"{ALERT} did not reach Alertmanager within {ARRIVAL_TIMEOUT_S} s; rules: {rules}")


def stop_load(load: subprocess.Popen[str]) -> str:
    load.send_signal(signal.SIGINT)
    output, _ = load.communicate(timeout=60)
    return output


def test_overload_fires_the_p95_alert_and_alertmanager_receives_it(
    overloaded_stack, generated_corpus, webhook
):
    stack = overloaded_stack
    assert active_alerts(stack) == []  # nothing fires on an idle stack
    load = start_load(stack, generated_corpus)
    try:
        alert, after_s = wait_for_alert(stack, load)
        deadline = time.monotonic() + 30  # group_wait 10 s, then the webhook is posted
        while not webhook.bodies and time.monotonic() < deadline:
            time.sleep(1)
        firing = {a["labels"]["alertname"] for a in active_alerts(stack)}
        [p95] = get_json(f"{stack.prometheus_url}/api/v1/query?query=loadgen:transcript_lag_seconds:p95")[
            "data"
        ]["result"]
    finally:
        output = stop_load(load)
    print(output[-3000:])
    print(
        f"{ALERT} at Alertmanager {after_s:.0f} s after the load started; p95 {float(p95['value'][1]):.2f} s"
    )
    print(json.dumps(alert, indent=2))

    assert alert["labels"]["severity"] == "page"
    assert "above the SLO" in alert["annotations"]["summary"] and alert["annotations"]["runbook"]
    assert alert["generatorURL"].startswith(stack.prometheus_url)
    assert float(p95["value"][1]) > 0.5
    assert firing == {ALERT}, f"only the lag alert should fire, got {firing}"  # no false alarms
    [notified] = [b for b in webhook.bodies if b["commonLabels"].get("alertname") == ALERT]
    assert notified["status"] == "firing" and notified["receiver"] == "default"
