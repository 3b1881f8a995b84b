"""Results on disk: one JSON line per session, appended and flushed as each ends (crash-safe)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, TypeVar

from loadgen.core.errors import UsageError
from loadgen.core.session_result import SessionResult

T = TypeVar("T")


class JsonlWriter:
    """Appends one line per finished session and flushes it, so a killed run keeps every finished one.

    A new file by default; `keep=True` appends to an existing one (a restarted `loadgen serve`)."""

    def __init__(self, path: Path, keep: bool = False) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file: IO[str] = path.open("a" if keep else "w", encoding="utf-8")
        except OSError as exc:
            raise UsageError(
                f"cannot write results to {path}: {exc.strerror}; pass a writable --output-file"
            ) from exc

    def write(self, result: SessionResult) -> None:
        """Append `result` as one line and flush it to the OS."""
        self.append(result.to_json_dict())

    def append(self, record: dict[str, Any]) -> None:
        """Append any JSON object as one line and flush it to the OS."""
        self._file.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self._file.flush()

    def close(self) -> None:
        """Close the file."""
        self._file.close()


def read_jsonl(path: Path, parse: Callable[[dict[str, Any]], T], what: str) -> tuple[list[T], bool]:
    """Every complete line of a JSONL file parsed by `parse`, and whether a torn last line was dropped.

    Only the last line may be torn (a writer killed mid-line); a bad line elsewhere is an error.
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    records: list[T] = []
    torn = False
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(parse(json.loads(line)))
        except (ValueError, TypeError, KeyError) as exc:
            if number == len(lines):
                torn = True
                break
            raise UsageError(f"{path}:{number}: not {what} ({exc})") from exc
    return records, torn


def read_results(path: Path) -> tuple[list[SessionResult], bool]:
    """All complete session records of a results file, and whether a torn last line was dropped."""
    return read_jsonl(path, SessionResult.from_json_dict, "a session record")


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write a JSON document atomically (temp file, then rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)
