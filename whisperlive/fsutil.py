"""File-system helpers shared by the model and VAD seeding: atomic writes, locating installed packages."""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

_COPY_CHUNK = 16 * 1024 * 1024
_FILE_MODE = 0o644


def installed_package_dir(import_name: str) -> Path | None:
    """The directory of an installed top-level package, None when absent; the package is not imported."""
    spec = importlib.util.find_spec(import_name)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent


def atomic_concat(sources: Iterable[Path], dest: Path) -> None:
    """Write the sources one after the other to a temporary file beside `dest`, then rename it to `dest`.

    Readers never see a partial file, and concurrent writers (replicas starting together) each rename
    a complete copy.
    """
    fd, temp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        os.fchmod(fd, _FILE_MODE)  # mkstemp makes 0600; the cache may be shared between users
        with os.fdopen(fd, "wb") as out:
            for source in sources:
                with source.open("rb") as chunk:
                    shutil.copyfileobj(chunk, out, _COPY_CHUNK)
        os.replace(temp_name, dest)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
