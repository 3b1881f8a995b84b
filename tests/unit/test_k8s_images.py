"""Kubernetes objects that can start and be drained, read from every rendered kustomization (kubectl
kustomize, offline): every image has a pinned tag or a digest, no project image is pulled Always, every
project image is one Compose builds (a registry serves nothing else), the GPU replicas roll without a
surge pod and without a GPU-Operator-only nodeSelector, and every PodDisruptionBudget lets a drain through."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import pytest
import yaml

from stack.images import KUSTOMIZATIONS, ROOT, compose_images, kustomize, pod_containers

K8S = ROOT / "k8s"
PROJECT = re.compile(r"(?:^|/)whisperlive-capacity(?:-loadgen)?(?=[:@]|$)")  # any registry prefix
REFERENCE = re.compile(
    r"^(?P<name>[^@]+?)(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)


@cache
def rendered(target: str) -> tuple[dict[str, Any], ...]:
    return tuple(kustomize(K8S / target))


def images_of(objects: tuple[dict[str, Any], ...]) -> list[tuple[str, dict[str, Any]]]:
    return list(pod_containers(list(objects)))


def pinned(reference: str) -> bool:
    """A tag other than `latest`, or a digest."""
    match = REFERENCE.match(reference)
    assert match, f"not an image reference: {reference}"
    return bool(match["digest"]) or (match["tag"] not in (None, "latest"))


def test_the_reference_rules_can_fail():
    assert not pinned("whisperlive-capacity-loadgen") and not pinned("whisperlive-capacity-loadgen:latest")
    assert pinned("nginx:1.28.0-alpine") and pinned(
        f"registry.example/whisperlive-capacity@sha256:{'0' * 64}"
    )
    assert PROJECT.search("registry.example/team/whisperlive-capacity-loadgen:0.1.0")
    assert not PROJECT.search("nginx:1.28.0-alpine")


@pytest.mark.parametrize("target", KUSTOMIZATIONS)
def test_every_image_is_pinned_built_and_not_pulled_always(target):
    built = compose_images()
    problems = []
    for owner, container in images_of(rendered(target)):
        image = container["image"]
        where = f"k8s/{target} {owner} {container['name']}: {image}"
        if not pinned(image):
            problems.append(f"{where}: no pinned tag or digest (`latest` means imagePullPolicy Always)")
        if PROJECT.search(image):
            if container.get("imagePullPolicy") == "Always":
                problems.append(f"{where}: imagePullPolicy Always on a project image (side-loads never run)")
            if image not in built:
                problems.append(f"{where}: no Compose service builds it (built: {', '.join(sorted(built))})")
    print(f"k8s/{target}: " + ", ".join(sorted({c["image"] for _, c in images_of(rendered(target))})))
    assert problems == [], "\n".join(problems)


def test_gpu_replicas_roll_one_at_a_time_without_a_surge_or_an_operator_label():
    [deployment] = [
        o for o in rendered("overlays/gpu")
        if o["kind"] == "Deployment" and o["metadata"]["name"] == "whisperlive"
    ]  # fmt: skip
    rolling = deployment["spec"]["strategy"]
    assert rolling["type"] == "Recreate" or rolling["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}
    pod = deployment["spec"]["template"]["spec"]
    assert "nodeSelector" not in pod and "nodeAffinity" not in pod.get("affinity", {})
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1  # what places it on GPU nodes


def _replicas(objects: tuple[dict[str, Any], ...], selector: dict[str, str]) -> int:
    """The replica count of the workload a PDB selects (an autoscaler's minimum when it owns it)."""
    deployments = [o for o in objects if o["kind"] == "Deployment"]
    [workload] = [
        d for d in deployments if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
    ]
    name = workload["metadata"]["name"]
    scalers = [
        o["spec"]["minReplicas"]
        for o in objects
        if o["kind"] == "HorizontalPodAutoscaler" and o["spec"]["scaleTargetRef"]["name"] == name
    ]
    return int(workload["spec"].get("replicas", scalers[0] if scalers else 1))


@pytest.mark.parametrize("target", ["base", "overlays/gpu", "overlays/cpu-dev"])
def test_every_disruption_budget_lets_kubectl_drain_evict_a_pod(target):
    objects = rendered(target)
    budgets = [o for o in objects if o["kind"] == "PodDisruptionBudget"]
    assert budgets
    for budget in budgets:
        replicas = _replicas(objects, budget["spec"]["selector"]["matchLabels"])
        spec = budget["spec"]
        allowed = (
            replicas - int(spec["minAvailable"]) if "minAvailable" in spec else int(spec["maxUnavailable"])
        )
        assert allowed >= 1, (
            f"k8s/{target} PodDisruptionBudget/{budget['metadata']['name']}: {replicas} pods, none evictable"
        )


def test_the_committed_lock_and_compose_name_the_same_project_images():
    """Compose builds exactly the tags k8s runs; its loadgen tag is the project's version."""
    version = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["loadgen"]["image"].split(
        ":"
    )[1]
    assert f'version = "{version}"' in (ROOT / "pyproject.toml").read_text()
    assert sorted(compose_images().values()) == [
        "loadgen/Dockerfile", "whisperlive/Dockerfile", "whisperlive/Dockerfile.cpu"
    ]  # fmt: skip
    assert all(tag.split(":")[1].startswith(version) for tag in compose_images())
