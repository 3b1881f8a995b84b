"""The run manifest stored beside every summary: what was run, against what, with which versions."""

from __future__ import annotations

import argparse
import platform
import sys
import time
from importlib import metadata
from typing import Any

from loadgen.core.session_result import RunRecord
from loadgen.core.workload import Workload
from loadgen.data.corpus import Corpus

SECRET_FLAGS = ("--api-key",)  # their values never reach a file: replaced by REDACTED
REDACTED = "<redacted>"
_PACKAGES = (
    "whisperlive-capacity",
    "picows",
    "websockets",
    "uvloop",
    "numpy",
    "jiwer",
    "whisper-normalizer",
    "whisper-live",
)


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def redacted_argv(argv: list[str]) -> list[str]:
    """The command line with the value of every secret flag (`--api-key KEY`, `--api-key=KEY`) hidden."""
    out: list[str] = []
    for arg in argv:
        flag = arg.split("=", 1)[0]
        if out and out[-1] in SECRET_FLAGS:
            out.append(REDACTED)
        elif flag in SECRET_FLAGS and "=" in arg:
            out.append(f"{flag}={REDACTED}")
        else:
            out.append(arg)
    return out


def redacted_arguments(args: argparse.Namespace) -> dict[str, str | None]:
    """The parsed arguments as strings, secrets hidden (a set secret shows as REDACTED)."""
    secrets = {flag.lstrip("-").replace("-", "_") for flag in SECRET_FLAGS}
    return {k: None if v is None else REDACTED if k in secrets else str(v) for k, v in vars(args).items()}


def run_dir_manifest(args: argparse.Namespace, corpus: Corpus, url: str, status: str) -> dict[str, Any]:
    """run.json of `loadgen run --run-dir` (docs/RUN_DIR.md), kind "run", as the run starts."""
    return {
        "kind": "run",
        "status": status,
        "started_at": round(time.time(), 3),
        "ended_at": None,
        "url": url,
        "command": redacted_argv(sys.argv),
        "profile": None,
        "schedule": {
            "kind": "run",
            "clients": args.num_clients,
            "duration_s": args.duration,
            "mode": args.mode,
        },
        "corpus": {
            "root": str(corpus.root),
            "layout": corpus.layout,
            "files": len(corpus.utterances),
            "duration_s": round(corpus.duration_s, 3),
        },
        "prometheus_url": None,
        "replicas": None,
        "shard": {"index": 0, "count": 1},
        "loadgen_version": _version("whisperlive-capacity"),
        "workload": Workload.from_flags(args).to_json_dict(),
    }


def run_manifest(
    args: argparse.Namespace, corpus: Corpus, url: str, record: RunRecord, interrupted: bool
) -> dict[str, Any]:
    """A JSON-ready description of the run."""
    return {
        "command": redacted_argv(sys.argv),
        "arguments": redacted_arguments(args),
        "url": url,
        "started_at": record.started_at,
        "ended_at": record.ended_at,
        "interrupted": interrupted,
        "peak_streams": record.peak_streams,
        "workload": Workload.from_flags(args).to_json_dict(),
        "corpus": {
            "root": str(corpus.root),
            "layout": corpus.layout,
            "files": len(corpus.utterances),
            "duration_s": round(corpus.duration_s, 3),
            "skipped": [f"{p.path}: {p.reason}" for p in corpus.problems],
        },
        "versions": {"python": platform.python_version(), **{p: _version(p) for p in _PACKAGES}},
    }
