"""The generated dashboards: every panel has a unit, a description and rate-interval queries."""

import json
from pathlib import Path

import yaml

from stack.dashboards import dashboards

REPO = Path(__file__).resolve().parents[2]


def _panels():
    for path, text in dashboards().items():
        for panel in json.loads(text)["panels"]:
            yield path.stem, panel


def test_every_panel_has_a_unit_a_description_and_queries():
    for board, panel in _panels():
        where = f"{board}: {panel['title']}"
        assert panel["fieldConfig"]["defaults"].get("unit"), where
        assert len(panel.get("description", "")) > 20, where
        assert panel["targets"], where
        assert all("$__rate_interval" in t["expr"] for t in panel["targets"]), where


def test_panels_use_the_provisioned_datasource():
    provisioned = yaml.safe_load((REPO / "grafana/provisioning/datasources/prometheus.yml").read_text())
    [source] = provisioned["datasources"]
    assert {panel["datasource"]["uid"] for _, panel in _panels()} == {source["uid"]}


def test_the_lag_panels_draw_the_slo_line():
    slo = yaml.safe_load((REPO / "prometheus/rules/recording.yml").read_text())["groups"][0]["rules"][0]
    assert slo["record"] == "slo:transcript_lag_p95:seconds"
    lag_panels = [p for _, p in _panels() if "lag" in p["title"].lower() and "Finalization" not in p["title"]]
    for panel in lag_panels:
        steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
        assert steps[-1]["value"] == float(slo["expr"].strip("vector()")), panel["title"]
        assert panel["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == "line"
