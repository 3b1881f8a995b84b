"""The balancer config: one template, rendered for the local stack and for Compose, checked by nginx -t."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from stack import ports
from stack.render import (
    COMPOSE_NGINX,
    ROOT,
    as_static_upstream,
    committed_files,
    compose_nginx,
    local_nginx,
    render_nginx,
)

NGINX = shutil.which("nginx")
needs_nginx = pytest.mark.skipif(NGINX is None, reason="nginx not on PATH: apt-get install nginx")


def local_config(log_dir: Path = Path("/tmp/logs"), replicas: int = 3) -> str:
    return render_nginx(local_nginx("127.0.0.1", ports.LocalPorts(), replicas, log_dir))


def directives(config: str) -> list[str]:
    """Every directive line, comments and surrounding blanks removed."""
    lines = (line.split("#")[0].strip() for line in config.splitlines())
    return [line for line in lines if line]


@pytest.mark.parametrize("config", [local_config(), render_nginx(compose_nginx())], ids=["local", "compose"])
def test_both_targets_balance_streams_the_same_way(config):
    lines = directives(config)
    assert "least_conn;" in lines
    assert not [line for line in lines if line.startswith(("ip_hash", "hash "))]
    assert "zone whisperlive_backend 64k;" in lines
    assert "map $http_upgrade $connection_upgrade {" in lines
    assert "proxy_set_header Upgrade $http_upgrade;" in lines
    assert "proxy_set_header Connection $connection_upgrade;" in lines
    assert "proxy_http_version 1.1;" in lines
    assert "add_header X-Upstream $upstream_addr always;" in lines
    assert "proxy_read_timeout 3600s;" in lines and "proxy_send_timeout 3600s;" in lines
    assert "proxy_next_upstream error timeout;" in lines
    # every replica may be tried once (a scale-up lists many that do not listen yet), within 10 s
    assert "proxy_next_upstream_tries 0;" in lines and "proxy_next_upstream_timeout 10s;" in lines
    assert "proxy_connect_timeout 1s;" in lines
    assert "proxy_buffering off;" in lines
    assert "$upstream_addr" in config.split("log_format")[1].split(";")[0]
    assert "$upstream_connect_time" in config.split("log_format")[1].split(";")[0]
    assert "stub_status;" in lines and "deny all;" in lines
    assert "{{" not in config


def test_the_local_config_listens_on_loopback_and_logs_in_the_run_dir():
    config = local_config(Path("/runs/x/logs"), replicas=2)
    lines = directives(config)
    assert "listen 127.0.0.1:9090;" in lines
    assert "listen 127.0.0.1:9091;" in lines  # stub_status on its own server
    assert re.findall(r"listen (\S+);", config) == ["127.0.0.1:9090", "127.0.0.1:9091"]
    assert "server 127.0.0.1:9101 max_fails=1 fail_timeout=10s;" in lines
    assert "server 127.0.0.1:9102 max_fails=1 fail_timeout=10s;" in lines
    assert "server 127.0.0.1:9103" not in config
    assert "allow 127.0.0.1;" in lines and "allow 10.0.0.0/8;" not in lines
    assert "access_log /runs/x/logs/nginx-access.log upstream;" in lines
    assert "error_log /runs/x/logs/nginx-error.log notice;" in lines
    assert "resolver" not in config and " resolve" not in config


def test_the_compose_config_re_resolves_the_scaled_service():
    config = render_nginx(compose_nginx())
    lines = directives(config)
    assert "resolver 127.0.0.11 valid=10s ipv6=off;" in lines
    assert "server whisperlive:9090 resolve max_fails=1 fail_timeout=10s;" in lines
    assert re.findall(r"listen (\S+);", config) == ["80", "8080"]
    for network in ("127.0.0.1", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"):
        assert f"allow {network};" in lines
    assert lines.index("deny all;") > lines.index("allow 192.168.0.0/16;")
    assert "access_log /dev/stdout upstream;" in lines


def test_the_static_variant_only_replaces_the_resolved_server():
    config = render_nginx(compose_nginx())
    static = as_static_upstream(config)
    assert "server 127.0.0.1:9090 max_fails=1 fail_timeout=10s;" in directives(static)
    assert " resolve " not in static
    assert static.replace("server 127.0.0.1:9090 ", "server whisperlive:9090 resolve ") == config
    with pytest.raises(ValueError, match="not the Compose config"):
        as_static_upstream(local_config())


def test_the_committed_compose_configs_are_not_stale():
    for path, text in committed_files().items():
        committed = ROOT / path
        assert committed.is_file(), f"{path} missing: run `python -m stack render`"
        assert committed.read_text() == text, f"{path} is stale: run `python -m stack render`"


def nginx_test(config: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`nginx -t` as any user: every path the config names lies under tmp_path (the prefix)."""
    assert NGINX is not None
    prefix = tmp_path / "prefix"
    prefix.mkdir()
    conf = tmp_path / "nginx.conf"
    conf.write_text(config)
    return subprocess.run(
        [NGINX, "-t", "-p", f"{prefix}/", "-c", str(conf), "-e", str(tmp_path / "startup-error.log")],
        capture_output=True,
        text=True,
        timeout=30,
    )


@needs_nginx
def test_nginx_accepts_the_local_config(tmp_path):
    (tmp_path / "logs").mkdir()
    result = nginx_test(local_config(tmp_path / "logs"), tmp_path)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


@needs_nginx
def test_nginx_accepts_the_compose_config_with_resolve_substituted_away(tmp_path):
    committed = (ROOT / COMPOSE_NGINX).read_text()
    # `nginx -t` binds the listen ports (a port in use is fine, a privileged one is not, unless root).
    unprivileged = committed.replace(f"listen {ports.COMPOSE_BALANCER};", "listen 8081;")
    result = nginx_test(as_static_upstream(unprivileged), tmp_path)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


@needs_nginx
def test_nginx_rejects_a_broken_render(tmp_path):
    result = nginx_test(local_config(tmp_path).replace("least_conn;", "least_conn"), tmp_path)
    assert result.returncode != 0
