"""Trace files (docs/TRACES.md): CSV with the header `start_s,length_s,profile,file`, or JSON lines with
those keys, chosen by the file's suffix (`.csv`; `.jsonl` or `.json`)."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

from loadgen.core.arrivals import Arrival
from loadgen.core.errors import UsageError
from loadgen.core.trace import FIELDS, arrival_from_row, arrival_row

CSV_SUFFIXES, JSONL_SUFFIXES = (".csv",), (".jsonl", ".json")


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in CSV_SUFFIXES + JSONL_SUFFIXES:
        raise UsageError(f"trace {path}: name it .csv or .jsonl (docs/TRACES.md)")
    return "csv" if suffix in CSV_SUFFIXES else "jsonl"


def read_trace(path: Path) -> list[Arrival]:
    """Every session of a trace file; a usage error names the file, the line and what is wrong."""
    kind = _kind(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read trace {path}: {exc.strerror}") from exc
    try:
        if kind == "csv":
            reader = csv.DictReader(text.splitlines())
            if reader.fieldnames is None or not {"start_s", "length_s"} <= set(reader.fieldnames):
                raise ValueError(f"{path}:1: the header needs start_s and length_s ({','.join(FIELDS)})")
            arrivals = [arrival_from_row(row, f"{path}:{n}") for n, row in enumerate(reader, 2)]
        else:
            arrivals = [
                arrival_from_row(_object(line, f"{path}:{n}"), f"{path}:{n}")
                for n, line in enumerate(text.splitlines(), 1)
                if line.strip()
            ]
    except ValueError as exc:
        raise UsageError(f"trace {exc}") from exc
    if not arrivals:
        raise UsageError(f"trace {path} has no sessions")
    return arrivals


def _object(line: str, where: str) -> dict:
    try:
        value = json.loads(line)
    except ValueError as exc:
        raise ValueError(f"{where}: not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{where}: not a JSON object")
    return value


def write_trace(path: Path, arrivals: Sequence[Arrival]) -> None:
    """Write `arrivals` as a CSV or JSONL trace (by the suffix of `path`)."""
    kind = _kind(path)
    rows = [arrival_row(a) for a in arrivals]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="") as out:
            if kind == "csv":
                writer = csv.DictWriter(out, FIELDS, lineterminator="\n")
                writer.writeheader()
                writer.writerows(rows)
            else:
                out.writelines(json.dumps({k: v for k, v in row.items() if v != ""}) + "\n" for row in rows)
    except OSError as exc:
        raise UsageError(f"cannot write trace {path}: {exc.strerror}") from exc
