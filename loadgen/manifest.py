"""The run manifest stored beside every summary: what was run, against what, with which versions."""

from __future__ import annotations

import argparse
import platform
import sys
from importlib import metadata
from typing import Any

from loadgen.corpus import Corpus
from loadgen.runner import RunRecord

_PACKAGES = ("whisperlive-capacity", "websockets", "numpy", "jiwer", "whisper-normalizer", "whisper-live")


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def run_manifest(
    args: argparse.Namespace, corpus: Corpus, url: str, record: RunRecord, interrupted: bool
) -> dict[str, Any]:
    """A JSON-ready description of the run."""
    return {
        "command": sys.argv,
        "arguments": {k: str(v) if v is not None else None for k, v in vars(args).items()},
        "url": url,
        "started_at": record.started_at,
        "ended_at": record.ended_at,
        "interrupted": interrupted,
        "peak_streams": record.peak_streams,
        "corpus": {
            "root": str(corpus.root),
            "layout": corpus.layout,
            "files": len(corpus.utterances),
            "duration_s": round(corpus.duration_s, 3),
            "skipped": [f"{p.path}: {p.reason}" for p in corpus.problems],
        },
        "versions": {"python": platform.python_version(), **{p: _version(p) for p in _PACKAGES}},
    }
