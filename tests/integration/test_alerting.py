"""The p95 lag alert end to end: a ramp past the knee of the stack, Prometheus firing the shared rule,
Alertmanager receiving it (its API) and notifying a webhook receiver; and the dashboards' step
annotation marking the ramp's steps.

The local stack runs the simulator backend (no model, so overload is cheap and its lag is known):
2 replicas that each carry 1 stream at 0.2 s lag (inside the 0.5 s SLO) and 1.0 s more per further
stream. `loadgen ramp --steps 2,4,6,...` holds 2 clients (one per replica: within the SLO), then steps past
the knee (1.2 s and more).

Timing: the stack evaluates the rules every 5 s, the scrape interval, as Compose does. The rules are
prometheus/rules/ unchanged but for the lag alert's `for:`, 1m in the repository and 10 s in the test's
copy (its expression, labels and annotations as committed): promtool's unit tests
(prometheus/tests/alerts_test.yml) already prove the alert stays pending for its minute, and this test
proves the path from a real overload to the webhook. The p95 recording rule needs two scrapes of
overloaded lag samples (~10-15 s), then the alert is pending for 10 s, so it reaches Alertmanager ~20-25 s
after the overload starts, ~45 s into the test.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from stack.dashboards import annotation_queries, dashboards
from stack.local import LocalStack, SimulatorSettings, StackSettings
from stack.ports import LocalPorts, free_base_port
from stack.render import ALERTMANAGER_CONFIG, ROOT, RULES, PrometheusTarget, local_prometheus
from tests.prometheus_api import finite_points, get_json, query, query_range

pytestmark = pytest.mark.integration

ALERT = "TranscriptLagP95AboveSLO"
REPLICAS = 2
STEPS = "2,4,6,8,8,8"  # 2: one stream per replica, within the SLO; then past the knee
STEP_S = (5, 15)  # warm-up, hold: 20 s a step
MAX_CLIENTS = 4  # per replica: 8 clients are never refused
ARRIVAL_TIMEOUT_S = 100  # the expected ~45 s, with room for a slow machine; the ramp lasts 120 s
ALERT_FOR = "10s"  # the lag alert's `for:` in the test's copy of the rules (1m as committed)
RATE_INTERVAL = "30s"  # Grafana's $__rate_interval at a 5 s scrape interval
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


def rules_with_a_short_lag_alert(rules_dir: Path) -> Path:
    """prometheus/rules/ copied to `rules_dir`, the lag alert pending for ALERT_FOR instead of 1m."""
    rules_dir.mkdir()
    for source in sorted((ROOT / RULES).glob("*.yml")):
        groups = yaml.safe_load(source.read_text())
        alerts = [rule for group in groups["groups"] for rule in group["rules"] if rule.get("alert") == ALERT]
        for rule in alerts:
            assert rule["for"] == "1m", rule  # what the docstring says is shortened
            rule["for"] = ALERT_FOR
        (rules_dir / source.name).write_text(yaml.safe_dump(groups, sort_keys=False))
    return rules_dir


@pytest.fixture
def simulated_stack(
    tmp_path: Path, webhook: Webhook, generated_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LocalStack]:
    """The simulator stack, its Alertmanager config the repository's with a webhook on the default
    receiver: what a user does to be notified (alertmanager/alertmanager.yml says how). Its Prometheus
    loads the rules of `rules_with_a_short_lag_alert`."""
    rules_dir = rules_with_a_short_lag_alert(tmp_path / "rules")

    def short_lag_alert_prometheus(*args: Any, **kwargs: Any) -> PrometheusTarget:
        return dataclasses.replace(local_prometheus(*args, **kwargs), rules_dir=str(rules_dir))

    monkeypatch.setattr("stack.local.local_prometheus", short_lag_alert_prometheus)  # what `up` renders
    config = yaml.safe_load((ROOT / ALERTMANAGER_CONFIG).read_text())
    [default] = [r for r in config["receivers"] if r["name"] == config["route"]["receiver"]]
    default["webhook_configs"] = [{"url": webhook.url, "send_resolved": True}]
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    settings = StackSettings(
        replicas=REPLICAS,
        max_clients=MAX_CLIENTS,
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


def active_alerts(stack: LocalStack) -> list[dict]:
    """Alertmanager's alerts (GET /api/v2/alerts), active ones only."""
    alerts = get_json(f"{stack.alertmanager_url}/api/v2/alerts")
    assert isinstance(alerts, list)
    return [a for a in alerts if a["status"]["state"] == "active"]


def start_ramp(stack: LocalStack, corpus: Path) -> subprocess.Popen[str]:
    warmup, hold = STEP_S
    argv = [sys.executable, "-m", "loadgen", "ramp", "--url", stack.balancer_url, "--steps", STEPS]
    argv += ["--keep-going", "--warmup", str(warmup), "--hold", str(hold), "--connect-rate", "10"]
    argv += ["--audio-dir", str(corpus), "--no-live"]
    argv += [
        "--metrics-port",
        str(stack.settings.ports.loadgen_metrics),
        "--run-dir",
        str(stack.run_dir / "ramp"),
    ]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)


def wait_for_alert(stack: LocalStack, ramp: subprocess.Popen[str]) -> tuple[dict, float]:
    started = time.monotonic()
    while time.monotonic() - started < ARRIVAL_TIMEOUT_S:
        assert ramp.poll() is None, (
            f"the ramp ended early ({ramp.returncode}): {ramp.communicate()[0][-3000:]}"
        )
        if arrived := [a for a in active_alerts(stack) if a["labels"]["alertname"] == ALERT]:
            return arrived[0], time.monotonic() - started
        time.sleep(2)
    rules = get_json(f"{stack.prometheus_url}/api/v1/rules?type=alert")
    pytest.fail(f"{ALERT} did not reach Alertmanager within {ARRIVAL_TIMEOUT_S} s; rules: {rules}")


def stop(ramp: subprocess.Popen[str]) -> str:
    """SIGTERM (as Ctrl-C, but not ignored by a ramp started from a background job) and its output."""
    ramp.send_signal(signal.SIGTERM)
    output, _ = ramp.communicate(timeout=60)
    return output


def test_a_ramp_past_the_knee_fires_the_p95_alert_and_alertmanager_receives_it(
    simulated_stack, generated_corpus, webhook
):
    stack = simulated_stack
    assert active_alerts(stack) == []  # nothing fires on an idle stack
    started = time.time()
    ramp = start_ramp(stack, generated_corpus)
    try:
        alert, after_s = wait_for_alert(stack, ramp)
        deadline = time.monotonic() + 30  # group_wait 10 s, then the webhook is posted
        while not webhook.bodies and time.monotonic() < deadline:
            time.sleep(1)
        firing = {a["labels"]["alertname"] for a in active_alerts(stack)}
        [p95] = query(stack.prometheus_url, "loadgen:transcript_lag_seconds:p95")
    finally:
        output = stop(ramp)
    print(output[-2500:])
    print(
        f"{ALERT} at Alertmanager {after_s:.0f} s after the ramp started; p95 {float(p95['value'][1]):.2f} s"
    )
    print(json.dumps(alert, indent=2))

    assert alert["labels"]["severity"] == "page"
    assert "above the SLO" in alert["annotations"]["summary"] and alert["annotations"]["runbook"]
    assert alert["generatorURL"].startswith(stack.prometheus_url)
    assert float(p95["value"][1]) > 0.5
    assert firing == {ALERT}, f"only the lag alert should fire, got {firing}"  # no false alarms
    [notified] = [b for b in webhook.bodies if b["commonLabels"].get("alertname") == ALERT]
    assert notified["status"] == "firing" and notified["receiver"] == "default"

    # Not while the first step held 2 clients (within the SLO): not even pending before the knee.
    url = stack.prometheus_url
    steps = finite_points(query_range(url, "max(loadgen_step)", started, time.time()))
    knee = min(t for t, step in steps if step >= 1)
    assert not query_range(url, f'ALERTS{{alertname="{ALERT}"}}', started, knee - 5)
    # and that was judged: the rule's p95 existed in the first step, within the SLO
    before = finite_points(query_range(url, "loadgen:transcript_lag_seconds:p95", started, knee))
    assert before and all(value <= 0.5 for t, value in before if t <= knee - 5), before
    # The dashboards' step annotation marks the ramp's steps.
    for board, text in dashboards().items():
        for name, _, expr in annotation_queries(text):
            marks = query_range(url, expr.replace("$__rate_interval", RATE_INTERVAL), started, time.time())
            assert len(finite_points(marks)) >= 2, f"{board}: {name} marks no step"
