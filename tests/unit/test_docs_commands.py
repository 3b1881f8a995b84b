"""Every `docker compose`, `kubectl` and `scripts/step_load.sh` command written in the README,
docs/TOPOLOGY.md and docs/KUBERNETES.md (code blocks and inline code) holds against the files: Compose
files and services exist, `loadgen` argv parses with the real argparse parser, nothing binds a port that
the container's own command already holds (the `loadgen serve` of the loadgen service: 9094 and 9095),
kustomize directories exist, and every kubectl object reference names an object some kustomization
renders."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest
import yaml

from loadgen.cli.entry import build_parser
from stack import k8s
from stack.images import COMPOSE_FILES, KUSTOMIZATIONS, ROOT, kustomize

DOCS = ("README.md", "docs/TOPOLOGY.md", "docs/KUBERNETES.md")
DEFAULT_COMPOSE = ("docker-compose.yml", "docker-compose.override.yml")
SUBSTITUTION = re.compile(r"\$\(([^()]*)\)")
VARIABLE = re.compile(r"\$\{?(\w+)\}?")
PLACEHOLDER = "X"
KINDS = {"deploy": "Deployment", "deployment": "Deployment", "job": "Job", "svc": "Service",
         "service": "Service", "pod": "Pod", "daemonset": "DaemonSet", "ds": "DaemonSet",
         "pdb": "PodDisruptionBudget", "hpa": "HorizontalPodAutoscaler"}  # fmt: skip
EXTERNAL_NAMESPACES = {"monitoring", "kube-system"}  # kube-prometheus-stack, the cluster's own
# step_load.sh's own flags before the user's (scripts/step_load.sh): --compose and the local stack.
STEP_LOAD = {
    True: ["ramp", "--control", "http://127.0.0.1:9095", "--prometheus-url", "http://prometheus:9090",
           "--profile", "default", "--run-dir", "results/ramp"],
    False: ["ramp", "--host", "127.0.0.1", "--port", "9090", "--audio-dir", "test_audio/corpus",
            "--profile", "cpu", "--metrics-port", "9094", "--run-dir", "runs/ramp"],
}  # fmt: skip


@dataclass(frozen=True)
class Command:
    """One simple command of a document, with where it was written."""

    argv: tuple[str, ...]
    where: str


def _simple_commands(line: str, env: dict[str, str], where: str) -> list[Command]:
    """The simple commands of one shell line: `$(...)` substitutions become commands of their own (and a
    placeholder word), variables expand from assignments seen before, pipes and `&&` split."""
    found: list[Command] = []
    while match := SUBSTITUTION.search(line):
        found.extend(_simple_commands(match[1], env, where))
        line = line[: match.start()] + PLACEHOLDER + line[match.end() :]
    line = VARIABLE.sub(lambda m: env.get(m[1], PLACEHOLDER), line)
    for part in re.split(r"&&|\|\||\||;", line):
        words = shlex.split(part, comments=True)
        if len(words) == 1 and re.fullmatch(r"\w+=.*", words[0]):
            name, _, value = words[0].partition("=")
            env[name] = value
        elif words:
            found.append(Command(tuple(words), where))
    return found


def doc_commands(name: str) -> list[Command]:
    """Every simple command in `name`'s fenced blocks and inline code."""
    text = (ROOT / name).read_text()
    commands: list[Command] = []
    env: dict[str, str] = {}
    for block in re.finditer(r"^```(?:bash|sh)?\n(.*?)^```", text, re.MULTILINE | re.DOTALL):
        line_no = text.count("\n", 0, block.start()) + 2
        for offset, line in enumerate(block[1].replace("\\\n", " ").splitlines()):
            commands.extend(_simple_commands(line, env, f"{name}:{line_no + offset}"))
    prose = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    for span in re.finditer(r"`([^`]+)`", prose):
        code = span[1].replace("\n", " ")
        if code.startswith(("docker compose ", "kubectl ", "scripts/step_load.sh ")):
            commands.extend(_simple_commands(code, dict(env), f"{name} (inline)"))
    return [
        c
        for c in commands
        if c.argv[:2] == ("docker", "compose") or c.argv[0] in ("kubectl", "scripts/step_load.sh")
    ]


def parse_loadgen(argv: list[str], where: str) -> Any:
    """`loadgen ARGV` through the real parser; its error line on failure ("..." placeholders dropped)."""
    words = [w for i, w in enumerate(argv) if w != "..." and not (i + 1 < len(argv) and argv[i + 1] == "...")]
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            return build_parser().parse_args(words)
    except SystemExit:
        pytest.fail(f"{where}: loadgen {' '.join(argv)}: {stderr.getvalue().strip().splitlines()[-1]}")


def bound_ports(args: Any) -> set[int]:
    """The TCP ports a parsed loadgen command listens on (inside its container)."""
    ports = {args.metrics_port} if getattr(args, "metrics_port", 0) else set()
    if args.command == "serve":
        ports.add(args.control_port)
    return ports


@cache
def compose_services(files: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = {}
    for name in files:
        for service, spec in yaml.safe_load((ROOT / name).read_text())["services"].items():
            services[service] = {**services.get(service, {}), **spec}
    return services


def check_compose(command: Command) -> None:
    argv = list(command.argv[2:])
    files: list[str] = []
    while argv and argv[0] in ("-f", "--file"):
        files.append(argv[1])
        argv = argv[2:]
    for name in files:
        assert name in COMPOSE_FILES and (ROOT / name).is_file(), f"{command.where}: no Compose file {name}"
    services = compose_services(tuple(files) or DEFAULT_COMPOSE)
    sub, *rest = argv
    if sub == "exec":
        while rest[0].startswith("-"):
            rest = rest[2:] if rest[0] in ("--user", "-u", "-e", "--env", "-w", "--workdir") else rest[1:]
        service, *inner = rest
        assert service in services, f"{command.where}: no Compose service {service}"
        if inner[:1] == ["loadgen"]:
            check_beside_service(services[service], parse_loadgen(inner[1:], command.where), command)
        return
    if sub == "cp":
        names = [w.split(":")[0] for w in rest if ":" in w]
    elif sub == "up":
        names = [w.split("=")[0] for i, w in enumerate(rest) if i and rest[i - 1] == "--scale"]
        names += [
            w for i, w in enumerate(rest) if not w.startswith("-") and not (i and rest[i - 1] == "--scale")
        ]
    else:
        names = [w for w in rest if not w.startswith("-")]
    for name in names:
        assert name in services, f"{command.where}: no Compose service {name}"
        if sub == "build":
            assert "build" in services[name], f"{command.where}: Compose builds nothing for {name}"


def check_beside_service(service: dict[str, Any], args: Any, command: Command) -> None:
    """A loadgen command exec'd in a container binds no port the container's own loadgen holds."""
    running = service.get("command", [])
    if running[:1] != ["loadgen"]:
        return
    held = bound_ports(build_parser().parse_args(running[1:]))
    clash = held & bound_ports(args)
    assert not clash, (
        f"{command.where}: {' '.join(command.argv)} binds {sorted(clash)}, held by `{' '.join(running[:2])}`"
    )


def check_step_load(command: Command) -> None:
    argv = list(command.argv[1:])
    compose = "--compose" in argv
    args = parse_loadgen([*STEP_LOAD[compose], *(a for a in argv if a != "--compose")], command.where)
    if compose:
        check_beside_service(compose_services(DEFAULT_COMPOSE)["loadgen"], args, command)


@cache
def rendered_names() -> set[tuple[str, str]]:
    return {
        (o["kind"], o["metadata"]["name"])
        for target in KUSTOMIZATIONS
        for o in kustomize(ROOT / "k8s" / target)
    }


@cache
def pod_labels() -> list[dict[str, str]]:
    return [
        o["spec"]["template"]["metadata"].get("labels", {})
        for target in KUSTOMIZATIONS
        for o in kustomize(ROOT / "k8s" / target)
        if "template" in o.get("spec", {})
    ]


def check_kubectl(command: Command) -> None:
    argv = list(command.argv[1:])
    namespace = k8s.NAMESPACE
    words = []
    while argv:
        word = argv.pop(0)
        if word in ("-n", "--namespace"):
            namespace = argv.pop(0)
        elif word == "--":
            if argv[:1] == ["loadgen"]:
                parse_loadgen(argv[1:], command.where)
            break
        else:
            words.append(word)
    assert namespace in {k8s.NAMESPACE, PLACEHOLDER} | EXTERNAL_NAMESPACES, (
        f"{command.where}: namespace {namespace}"
    )
    if not words:
        return
    verb, rest = words[0], words[1:]
    if verb in ("apply", "delete", "kustomize") and ("-k" in rest or verb == "kustomize") and rest:
        directory = rest[rest.index("-k") + 1] if "-k" in rest else rest[0]
        assert (ROOT / directory / "kustomization.yaml").is_file(), (
            f"{command.where}: no kustomization {directory}"
        )
        return
    if namespace in EXTERNAL_NAMESPACES:
        return
    for i, word in enumerate(rest):
        kind, slash, name = word.partition("/")
        if slash and kind in KINDS and name != PLACEHOLDER:
            assert (KINDS[kind], name) in rendered_names(), (
                f"{command.where}: no {KINDS[kind]}/{name} in k8s/"
            )
        if i and rest[i - 1] == "-l":
            pairs = dict(pair.split("=") for pair in word.split(","))
            assert any(pairs.items() <= labels.items() for labels in pod_labels()), (
                f"{command.where}: no pod {word}"
            )
    if (
        verb in ("get", "delete", "describe")
        and len(rest) >= 2
        and rest[0] in KINDS
        and not rest[1].startswith("-")
    ):
        assert (KINDS[rest[0]], rest[1]) in rendered_names(), (
            f"{command.where}: no {rest[0]} {rest[1]} in k8s/"
        )


@pytest.mark.parametrize("name", DOCS)
def test_every_documented_command_holds_against_the_files(name):
    commands = doc_commands(name)
    assert commands, f"{name}: no commands found"
    for command in commands:
        if command.argv[0] == "docker":
            check_compose(command)
        elif command.argv[0] == "kubectl":
            check_kubectl(command)
        else:
            check_step_load(command)
    print(f"{name}: {len(commands)} commands checked")


def test_the_guard_catches_what_it_is_for():
    """The README's old recipe (a second generator on the serve's 9094), a flag loadgen lacks, a service
    Compose lacks, an object k8s/ lacks."""
    old = "docker compose exec loadgen loadgen run --host load-balancer --port 80 --num-clients 8 " + (
        "--audio-dir test_audio/corpus --metrics-port 9094 --metrics-host 0.0.0.0"
    )
    for line, message in (
        (old, "binds [9094], held by `loadgen serve`"),
        (f"{old.split(' --metrics')[0]} --num-clientz 8", "unrecognized arguments: --num-clientz"),
        ("docker compose logs grafanna", "no Compose service grafanna"),
        (
            "kubectl -n whisperlive-capacity scale deploy/whisperlife --replicas 6",
            "no Deployment/whisperlife",
        ),
        ("kubectl apply -k k8s/overlays/tpu", "no kustomization k8s/overlays/tpu"),
    ):
        [command] = _simple_commands(line, {}, "example")
        check = check_compose if command.argv[0] == "docker" else check_kubectl
        with pytest.raises(pytest.fail.Exception if "unrecognized" in message else AssertionError) as caught:
            check(command)
        assert message in str(caught.value), str(caught.value)


def test_commands_are_split_as_a_shell_would():
    env: dict[str, str] = {}
    _simple_commands("NS=whisperlive-capacity", env, "x")
    [inner, cut, outer] = _simple_commands(
        "kubectl -n $NS cp a $(kubectl -n $NS get pod -l a=b -o name | cut -d/ -f2):/d", env, "x"
    )
    assert inner.argv == ("kubectl", "-n", "whisperlive-capacity", "get", "pod", "-l", "a=b", "-o", "name")
    assert cut.argv[0] == "cut" and outer.argv[-1] == f"{PLACEHOLDER}:/d"
