"""`loadgen prepare-audio SRC DST`: validate every file of a corpus and convert the usable ones to a
wav+txt-pairs corpus of 16 kHz mono PCM16, reporting each unusable file and why.

The per-file checks are corpus.py's (`load_candidate`): what prepare-audio accepts, `loadgen run` loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from loadgen.core.errors import UsageError
from loadgen.data.corpus import FileProblem, iter_loaded, scan_corpus, write_pair


@dataclass(frozen=True)
class PrepareReport:
    """The files written to DST (the `.wav` paths), the files skipped with their reasons, SRC's layout."""

    written: tuple[Path, ...]
    problems: tuple[FileProblem, ...]
    layout: str


def prepare_audio(src: Path, dst: Path, *, require_reference: bool = True) -> PrepareReport:
    """Convert SRC (any layout) into DST as `NAME.wav` + `NAME.txt` pairs (only `NAME.wav` when no reference
    is required). Bad files are reported, never raised; CorpusError if SRC is not a directory."""
    scan = scan_corpus(src, require_reference=require_reference)
    _make_destination(src, dst)
    written: list[Path] = []
    problems: list[FileProblem] = []
    for item in iter_loaded(scan):
        if isinstance(item, FileProblem):
            problems.append(item)
        else:
            written.append(write_pair(dst, item.name, item.audio, item.reference))
    return PrepareReport(tuple(written), tuple(problems), scan.layout)


def format_report(report: PrepareReport) -> str:
    """One line per skipped file, then a count line."""
    lines = [f"skipped {problem.path}: {problem.reason}" for problem in report.problems]
    counts = f"{len(report.written)} written, {len(report.problems)} skipped ({report.layout} layout)"
    if report.written:
        lines.append(f"{counts} into {report.written[0].parent} as 16 kHz mono PCM16")
    else:
        lines.append(f"nothing usable: {counts}")
    return "\n".join(lines)


def _make_destination(src: Path, dst: Path) -> None:
    if dst.exists() and dst.resolve() == src.resolve():
        raise UsageError(f"DST {dst} is SRC: prepare-audio writes a new corpus, choose another directory")
    try:
        dst.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create DST {dst}: {exc.strerror or exc}") from exc
