"""The sweep's Compose target: recreate the WhisperLive service's containers through the Docker SDK.

`deploy(settings)` on the containers labelled `com.docker.compose.service=SERVICE` (and `.project=`):
1. list them (`GET /containers/json?all=1`), ordered by `com.docker.compose.container-number`;
2. inspect replicas 1..N (and the first container: the template of replicas Compose never created);
3. for each replica k <= N: stop (`POST /containers/{id}/stop?t=STOP`) and remove (`DELETE
   /containers/{id}`) the old container, create one of the same name (`POST /containers/create?name=`)
   from its inspected `Config` and `HostConfig` (image, entrypoint, env, labels, mounts, restart policy,
   devices) with `Cmd` = its old Cmd less the managed flags plus the settings' flags
   (`overrides.replica_args`), the `config-hash` label dropped (so a later `docker compose up -d`
   recreates it from the Compose file) and the networks' aliases; connect it to any further network
   (`POST /networks/{name}/connect`: the Engine takes one network at create before API 1.44) and start it;
4. stop the replicas beyond N (`POST /containers/{id}/stop`): Docker's DNS then answers only the N
   running ones, which nginx's `server whisperlive:9090 resolve` re-reads within its 10 s `valid=`.
`stop()` stops every container of the service. The sweep waits for readiness by handshake itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loadgen.core.errors import ServerUnreachable, UsageError
from loadgen.core.matrix import ServerSettings
from loadgen.sweep.overrides import replica_args

SERVICE_LABEL = "com.docker.compose.service"
PROJECT_LABEL = "com.docker.compose.project"
NUMBER_LABEL = "com.docker.compose.container-number"
CONFIG_HASH_LABEL = "com.docker.compose.config-hash"
DEFAULT_URL = "ws://127.0.0.1:9090"  # docker-compose.yml publishes the balancer on 9090


def recreate_body(inspect: Mapping[str, Any], cmd: list[str], number: int, name: str) -> dict[str, Any]:
    """The `POST /containers/create` body of replica `number` named `name`, from an inspected container
    (its own, or the template's for a new replica), with `cmd`; the networks beyond the first (to connect
    after create) are not in it."""
    config = {k: v for k, v in inspect["Config"].items() if k != "Hostname"}  # the old id as hostname
    labels = {k: v for k, v in (config.get("Labels") or {}).items() if k != CONFIG_HASH_LABEL}
    labels[NUMBER_LABEL] = str(number)
    first, *_ = network_aliases(inspect, name)
    return {
        **config,
        "Cmd": cmd,
        "Labels": labels,
        "HostConfig": inspect["HostConfig"],
        "NetworkingConfig": {"EndpointsConfig": {first[0]: {"Aliases": first[1]}}},
    }


def network_aliases(inspect: Mapping[str, Any], name: str) -> list[tuple[str, list[str]]]:
    """(network, aliases) of the container to create: `HostConfig.NetworkMode`'s network first; the old
    container's name becomes `name`, its short id (which Docker adds itself) is dropped."""
    old_name, short_id = inspect["Name"].lstrip("/"), inspect["Id"][:12]
    networks = inspect["NetworkSettings"]["Networks"] or {}
    mode = inspect["HostConfig"].get("NetworkMode")
    ordered = sorted(networks, key=lambda net: net != mode)
    if not ordered:
        raise UsageError(f"container {old_name} is on no network: nginx could not reach it")
    return [
        (net, [name if a == old_name else a for a in networks[net].get("Aliases") or [] if a != short_id])
        for net in ordered
    ]


class ComposeTarget:
    """A Compose service restarted with each configuration's settings (see the module docstring)."""

    name = "compose"

    def __init__(
        self,
        client: Any,
        service: str = "whisperlive",
        project: str | None = None,
        url: str = DEFAULT_URL,
        stop_timeout_s: int = 150,
    ) -> None:
        self.api = client.api  # docker.DockerClient's low-level APIClient: one Engine call per method
        self.service = service
        self.project = project
        self.url = url
        self.stop_timeout_s = stop_timeout_s  # Compose's stop_grace_period: a replica drains, then exits

    @classmethod
    def from_env(
        cls, service: str = "whisperlive", project: str | None = None, url: str = DEFAULT_URL
    ) -> ComposeTarget:
        """The Docker engine of the environment (DOCKER_HOST or the local socket); one clear error when
        it does not answer."""
        import docker

        try:
            return cls(docker.from_env(), service, project, url)
        except docker.errors.DockerException as exc:
            raise ServerUnreachable(f"cannot reach the Docker engine ({exc}); is dockerd running?") from exc

    def deploy(self, settings: ServerSettings) -> str:
        """Recreate replicas 1..N with the settings, stop the rest; the balancer's URL."""
        listed = self._containers()
        first = next(iter(listed))
        wanted = range(1, settings.replicas + 1)
        docs = {
            n: self.api.inspect_container(c["Id"]) for n, c in listed.items() if n in wanted or n == first
        }
        for number in wanted:
            self._recreate(number, docs.get(number), docs[first], settings)
        for number, container in listed.items():
            if number > settings.replicas:
                self.api.stop(container["Id"], timeout=self.stop_timeout_s)
        return self.url

    def _recreate(
        self,
        number: int,
        current: Mapping[str, Any] | None,
        template: Mapping[str, Any],
        settings: ServerSettings,
    ) -> None:
        """Replace replica `number` (or create it from the template) with the settings' Cmd, and start it."""
        source = current or template
        if current is not None:
            name = current["Name"].lstrip("/")
            self.api.stop(current["Id"], timeout=self.stop_timeout_s)
            self.api.remove_container(current["Id"])
        else:
            name = f"{template['Config']['Labels'][PROJECT_LABEL]}-{self.service}-{number}"
        cmd = replica_args(source["Config"].get("Cmd") or [], settings)
        created = self.api.create_container_from_config(recreate_body(source, cmd, number, name), name=name)
        for network, aliases in network_aliases(source, name)[1:]:
            self.api.connect_container_to_network(created["Id"], network, aliases=aliases)
        self.api.start(created["Id"])

    def stop(self) -> None:
        """Stop every container of the service (a stopped one stays stopped)."""
        for container in self._containers().values():
            self.api.stop(container["Id"], timeout=self.stop_timeout_s)

    def describe(self) -> dict[str, Any]:
        """The engine's host (cores, memory, version) and the service, for sweep.json."""
        info = self.api.info()
        return {
            "kind": self.name,
            "service": self.service,
            "project": self.project,
            "url": self.url,
            "host": info.get("Name"),
            "host_cpus": info.get("NCPU"),
            "memory_bytes": info.get("MemTotal"),
            "docker_version": info.get("ServerVersion"),
        }

    def _containers(self) -> dict[int, dict[str, Any]]:
        """The service's containers (running or not) by replica number; a usage error when none."""
        labels = [f"{SERVICE_LABEL}={self.service}"]
        if self.project:
            labels.append(f"{PROJECT_LABEL}={self.project}")
        listed = self.api.containers(all=True, filters={"label": labels})
        if not listed:
            where = f" of project {self.project}" if self.project else ""
            raise UsageError(
                f"no Compose container of service {self.service}{where}: run docker compose up first"
            )
        return dict(sorted((int(c["Labels"].get(NUMBER_LABEL) or 1), c) for c in listed))
