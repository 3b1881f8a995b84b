"""Seed the Silero VAD model where upstream looks for it, so it never tries to download it.

Upstream `whisper_live/vad.py` loads `~/.cache/whisper-live/silero_vad.onnx` (a fixed path: it ignores
`cache_path`) and shells out to `wget` when the file is missing. Only its TensorRT path builds that
detector; the faster_whisper backend uses faster-whisper's own bundled VAD, so failing to seed only warns.
"""

from __future__ import annotations

import logging
from pathlib import Path

from whisperlive.fsutil import atomic_concat, installed_package_dir

UPSTREAM_VAD_FILE = Path("~/.cache/whisper-live/silero_vad.onnx")
SILERO_PIP_NAME = "silero-vad"

log = logging.getLogger(__name__)


def bundled_vad_file() -> Path | None:
    """`silero_vad/data/silero_vad.onnx` from the silero-vad package, None when not installed."""
    package = installed_package_dir("silero_vad")
    candidate = package / "data" / "silero_vad.onnx" if package else None
    return candidate if candidate and candidate.is_file() else None


def seed_vad_model(target: Path = UPSTREAM_VAD_FILE, source: Path | None = None) -> Path | None:
    """Copy the bundled VAD model to `target` unless present; return the file upstream will find, if any."""
    destination = target.expanduser()
    if destination.is_file() and destination.stat().st_size > 0:
        return destination
    origin = source or bundled_vad_file()
    if origin is None:
        log.warning("no %s; only the tensorrt backend needs it: pip install %s", destination, SILERO_PIP_NAME)
        return None
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        atomic_concat((origin,), destination)
    except OSError as exc:
        log.warning("cannot seed %s (%s); only the tensorrt backend needs it", destination, exc.strerror)
        return None
    return destination
