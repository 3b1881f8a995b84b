"""The generated dashboards: every panel has a unit, a description and rate-interval queries."""

import json
from pathlib import Path

import yaml

from loadgen.telemetry.metrics import LoadgenMetrics
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


def test_the_capacity_panel_overlays_clients_lag_and_throughput_on_one_time_axis():
    board = json.loads(dashboards()[Path("grafana/dashboards/capacity.json")])
    [panel] = [p for p in board["panels"] if "clients" in p["title"]]
    exprs = {t["refId"]: t["expr"] for t in panel["targets"]}
    lag = {ref for ref, expr in exprs.items() if "loadgen_transcript_lag_seconds_bucket" in expr}
    quantiles = [exprs[ref].split(",")[0] for ref in sorted(lag)]
    assert quantiles == [f"histogram_quantile({q}" for q in (0.5, 0.95, 0.99)]
    right = {
        o["matcher"]["options"]: {p["id"]: p["value"] for p in o["properties"]}
        for o in panel["fieldConfig"]["overrides"]
    }
    assert set(right) == set(exprs) - lag  # everything but the lag quantiles on the right axis
    for metric in ("target_clients", "active_clients", "audio_sent_seconds", "transcribed_audio_seconds"):
        assert any(f"loadgen_{metric}" in exprs[ref] for ref in right), metric
    for properties in right.values():
        assert properties["custom.axisPlacement"] == "right" and properties["unit"] == "short"
        assert properties["custom.thresholdsStyle"] == {"mode": "off"}  # the SLO line is the lag axis' only
    assert panel["fieldConfig"]["defaults"]["unit"] == "s" and panel["gridPos"]["w"] == 24


def test_every_dashboard_marks_the_ramp_steps():
    for text in dashboards().values():
        [steps] = json.loads(text)["annotations"]["list"]
        assert steps["enable"] and "changes(loadgen_step[$__rate_interval])" in steps["expr"]


def test_gpu_panels_keep_each_host_apart():
    """One replica per node makes every GPU `gpu="0"`: grouping by gpu alone would average the nodes."""
    gpu = [(board, p) for board, p in _panels() if "DCGM_FI_DEV" in json.dumps(p["targets"])]
    assert gpu
    for board, panel in gpu:
        for target in panel["targets"]:
            grouping = target["expr"].split(" by (", 1)[1].split(")", 1)[0]
            keys = {key.strip() for key in grouping.split(",")}
            assert {"Hostname", "gpu"} <= keys, (board, panel["title"])
            assert "{{Hostname}}" in target["legendFormat"], (board, panel["title"])


def test_the_capacity_board_shows_untranscribed_speech_by_cause_beside_word_errors_by_kind():
    board = json.loads(dashboards()[Path("grafana/dashboards/capacity.json")])
    [panel] = [p for p in board["panels"] if "untranscribed" in p["title"].lower()]
    exprs = [t["expr"] for t in panel["targets"]]
    assert any("sum by (cause)" in e and "loadgen_audio_untranscribed_seconds_total" in e for e in exprs)
    assert any("sum by (kind)" in e and "loadgen_word_errors_total" in e for e in exprs)
    exposed = {s.name for family in LoadgenMetrics().registry.collect() for s in family.samples}
    labels = {
        s.labels.get("cause") or s.labels.get("kind")
        for family in LoadgenMetrics().registry.collect()
        for s in family.samples
        if s.name in ("loadgen_audio_untranscribed_seconds_total", "loadgen_word_errors_total")
    }
    assert {"loadgen_audio_untranscribed_seconds_total", "loadgen_word_errors_total"} <= exposed
    assert labels == {"in_flight", "gap", "skipped", "substitution", "deletion", "insertion"}
