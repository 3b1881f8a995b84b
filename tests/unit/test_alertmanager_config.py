"""Alertmanager's configs: the committed one notifies nobody and needs no secret, the example's receivers
(Slack, e-mail, webhook) are valid, and both pass `amtool check-config`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from stack.render import ALERTMANAGER_CONFIG, ROOT

AMTOOL = shutil.which("amtool")
EXAMPLE = ROOT / "alertmanager" / "receivers.example.yml"
INTEGRATIONS = ("slack_configs", "email_configs", "webhook_configs")


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def test_the_committed_config_shows_alerts_without_notifying_anyone():
    config = load(ROOT / ALERTMANAGER_CONFIG)
    assert config["route"]["receiver"] == "default"
    assert config["receivers"] == [{"name": "default"}]  # no URL, no address, no secret


def test_the_example_routes_pages_and_warnings_to_every_kind_of_receiver():
    config = load(EXAMPLE)
    receivers = {r["name"]: r for r in config["receivers"]}
    [pages] = config["route"]["routes"]
    assert pages["matchers"] == ['severity="page"'] and pages["receiver"] in receivers
    assert config["route"]["receiver"] in receivers
    kinds = {kind for receiver in receivers.values() for kind in receiver if kind in INTEGRATIONS}
    assert kinds == set(INTEGRATIONS)
    assert "REPLACE-ME" in EXAMPLE.read_text()  # nothing in it is a real address or secret
    rules = load(ROOT / "prometheus/rules/alerts.yml")["groups"]
    severities = {rule["labels"]["severity"] for group in rules for rule in group["rules"]}
    assert severities == {"page", "warning"}  # pages to the pager, the rest to the default receiver


@pytest.mark.skipif(AMTOOL is None, reason="amtool not on PATH: apt-get install prometheus-alertmanager")
@pytest.mark.parametrize("path", [ROOT / ALERTMANAGER_CONFIG, EXAMPLE], ids=["committed", "example"])
def test_amtool_accepts_the_config(path):
    assert AMTOOL is not None
    result = subprocess.run([AMTOOL, "check-config", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
