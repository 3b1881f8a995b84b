"""The run directory (docs/RUN_DIR.md): where drivers write and where reports read.

Paths and JSON (de)serialisation only; what a step or a verdict contains is decided by the modules that
produce them. Shard files (`sessions.shard-1.jsonl`, ...) are merged on read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadgen.core.errors import UsageError
from loadgen.core.session_result import SessionResult
from loadgen.data.results_file import JsonlWriter, read_jsonl, read_results, write_json

MANIFEST, STEPS, SESSIONS, EVENTS, SUMMARY = (
    "run.json",
    "steps.jsonl",
    "sessions.jsonl",
    "events.jsonl",
    "summary.json",
)
RUNNING, COMPLETE, INTERRUPTED = "running", "complete", "interrupted"
SWEEP_JSON = "sweep.json"  # a sweep directory's state (docs/SWEEP.md), beside its configs' run directories


def _shard_name(name: str, shard: int | None) -> str:
    if shard is None:
        return name
    stem, ext = name.rsplit(".", 1)
    return f"{stem}.shard-{shard}.{ext}"


@dataclass(frozen=True)
class RunDir:
    """One run's directory; `shard` selects the shard's own JSONL files when writing."""

    path: Path
    shard: int | None = None

    def create(self) -> RunDir:
        """Make the directory (a usage error names it when it cannot be made)."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot create run directory {self.path}: {exc.strerror}") from exc
        return self

    def file(self, name: str) -> Path:
        """A file of this run; the JSONL ones carry the shard suffix when sharded."""
        return self.path / (_shard_name(name, self.shard) if name.endswith(".jsonl") else name)

    def writer(self, name: str) -> JsonlWriter:
        """An append-and-flush writer for one of the JSONL files."""
        return JsonlWriter(self.file(name))

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """Write run.json atomically (shard 0 or an unsharded run owns it)."""
        if self.shard in (None, 0):
            write_json(self.path / MANIFEST, manifest)

    def read_manifest(self) -> dict[str, Any]:
        """run.json; a missing or unreadable manifest is a usage error naming the directory."""
        path = self.path / MANIFEST
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise UsageError(f"{self.path} is not a run directory (no {MANIFEST})") from exc
        except ValueError as exc:
            raise UsageError(f"{path}: not JSON ({exc})") from exc
        return data

    def _all(self, name: str) -> list[Path]:
        stem, ext = name.rsplit(".", 1)
        return sorted({*self.path.glob(name), *self.path.glob(f"{stem}.shard-*.{ext}")})

    def read_sessions(self) -> tuple[list[SessionResult], bool]:
        """Every session of every shard, and whether any file ended in a torn line."""
        results: list[SessionResult] = []
        torn = False
        for path in self._all(SESSIONS):
            part, part_torn = read_results(path)
            results += part
            torn |= part_torn
        return results, torn

    def read_records(self, name: str) -> tuple[list[dict[str, Any]], bool]:
        """Every JSON line of `steps.jsonl` or `events.jsonl` (all shards), and whether any was torn."""
        records: list[dict[str, Any]] = []
        torn = False
        for path in self._all(name):
            part, part_torn = read_jsonl(path, dict, f"a {name} record")
            records += part
            torn |= part_torn
        return records, torn
