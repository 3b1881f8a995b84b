"""The Prometheus config: one template, rendered for the local stack and for Compose, checked by promtool."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from stack import ports
from stack.render import (
    COMPOSE_RULES,
    ROOT,
    RULES,
    ScrapeJob,
    compose_prometheus,
    local_prometheus,
    render_prometheus,
)

PROMTOOL = shutil.which("promtool")


def local_config(extra: tuple[ScrapeJob, ...] = (), replica_metrics: bool = True) -> str:
    target = local_prometheus("127.0.0.1", ports.LocalPorts(19090), 3, extra, replica_metrics)
    return render_prometheus(target)


def jobs(config: str) -> dict[str, dict]:
    return {job["job_name"]: job for job in yaml.safe_load(config)["scrape_configs"]}


def test_the_local_config_scrapes_each_replica_labelled_with_its_balancer_address():
    parsed = yaml.safe_load(local_config())
    assert parsed["global"]["scrape_interval"] == "5s"
    scrape = jobs(local_config())
    assert scrape["prometheus"]["static_configs"] == [{"targets": ["127.0.0.1:19092"]}]
    assert scrape["whisperlive"]["static_configs"] == [
        {"targets": [f"127.0.0.1:{19200 + i}"], "labels": {"replica": f"127.0.0.1:{19100 + i}"}}
        for i in (1, 2, 3)
    ]
    assert set(scrape) == {"prometheus", "whisperlive"}  # nothing that does not exist yet
    assert parsed["rule_files"] == [f"{ROOT / RULES}/*.yml"]
    [alertmanager] = parsed["alerting"]["alertmanagers"]
    assert alertmanager["static_configs"] == [{"targets": ["127.0.0.1:19093"]}]


def test_simulator_replicas_serve_no_metrics_so_none_are_scraped():
    assert jobs(local_config(replica_metrics=False))["whisperlive"]["static_configs"] == []


def test_extra_scrape_jobs_are_appended():
    extra = (ScrapeJob("loadgen", ("127.0.0.1:9094",)), ScrapeJob("exporters", ("127.0.0.1:9096",)))
    scrape = jobs(local_config(extra))
    assert list(scrape) == ["prometheus", "whisperlive", "loadgen", "exporters"]
    assert scrape["loadgen"]["static_configs"] == [{"targets": ["127.0.0.1:9094"]}]


def test_the_compose_config_finds_every_replica_through_docker_dns():
    scrape = jobs(render_prometheus(compose_prometheus()))
    job = scrape["whisperlive"]
    assert job["dns_sd_configs"] == [
        {"names": ["whisperlive"], "type": "A", "port": 9091, "refresh_interval": "10s"}
    ]
    [relabel] = job["relabel_configs"]
    assert relabel == {
        "source_labels": ["__address__"],
        "regex": "(.+):9091",
        "target_label": "replica",
        "replacement": "${1}:9090",
    }
    assert scrape["prometheus"]["static_configs"] == [{"targets": ["localhost:9090"]}]
    assert yaml.safe_load(render_prometheus(compose_prometheus()))["rule_files"] == [f"{COMPOSE_RULES}/*.yml"]


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not on PATH: apt-get install prometheus")
@pytest.mark.parametrize("target", ["local", "simulator", "compose"])
def test_promtool_accepts_the_rendered_config(target, tmp_path: Path):
    assert PROMTOOL is not None
    configs = {
        "local": lambda: local_config((ScrapeJob("loadgen", ("127.0.0.1:9094",)),)),
        "simulator": lambda: local_config(replica_metrics=False),
        "compose": lambda: render_prometheus(compose_prometheus()),
    }
    config = configs[target]()
    path = tmp_path / "prometheus.yml"
    path.write_text(config)
    result = subprocess.run(
        [PROMTOOL, "check", "config", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
