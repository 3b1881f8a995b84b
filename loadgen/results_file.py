"""Results on disk: one JSON line per session, appended and flushed as each ends (crash-safe)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

from loadgen.errors import UsageError
from loadgen.session_result import SessionResult


class JsonlWriter:
    """Appends one line per finished session and flushes it, so a killed run keeps every finished one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file: IO[str] = path.open("w", encoding="utf-8")
        except OSError as exc:
            raise UsageError(
                f"cannot write results to {path}: {exc.strerror}; pass a writable --output-file"
            ) from exc

    def write(self, result: SessionResult) -> None:
        """Append `result` as one line and flush it to the OS."""
        self._file.write(json.dumps(result.to_json_dict(), ensure_ascii=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        """Close the file."""
        self._file.close()


def read_results(path: Path) -> tuple[list[SessionResult], bool]:
    """All complete lines of a results file, and whether a torn last line was dropped."""
    lines = path.read_text(encoding="utf-8").splitlines()
    results: list[SessionResult] = []
    torn = False
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            results.append(SessionResult.from_json_dict(json.loads(line)))
        except (ValueError, TypeError) as exc:
            if number == len(lines):
                torn = True
                break
            raise UsageError(f"{path}:{number}: not a session record ({exc})") from exc
    return results, torn


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write a JSON document atomically (temp file, then rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)
