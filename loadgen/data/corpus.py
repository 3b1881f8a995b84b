"""The corpus: utterances (shared read-only 16 kHz audio + reference text) from a directory in one of three
layouts, detected automatically:

- "pairs": `NAME.wav` (or .flac .ogg .opus .mp3 .m4a ...) next to `NAME.txt`;
- "ljspeech": `metadata.csv` (`id|raw|normalized`) and `wavs/ID.wav`;
- "plain": audio files only, when no reference is required (latency only, no WER).

Scanning a directory lists candidates; `load_candidate` is the one per-file validation, shared by
`load_corpus` and `prepare-audio`. Text decoding and metadata parsing are pure functions.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from loadgen.core.errors import CorpusError, UsageError
from loadgen.core.protocol import SAMPLE_RATE
from loadgen.data.audio_io import AUDIO_EXTENSIONS, AudioError, read_audio, write_pcm16

PAIRS, LJSPEECH, PLAIN = "pairs", "ljspeech", "plain"
_LAYOUT_NAMES = {
    PAIRS: "NAME.wav + NAME.txt pairs",
    LJSPEECH: "LJSpeech (metadata.csv + wavs/ID.wav)",
    PLAIN: "audio files without transcripts",
}
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


@dataclass(frozen=True)
class Utterance:
    """One file of the corpus: 16 kHz mono float32 audio (read-only, shared by every stream) and its text."""

    name: str
    audio: np.ndarray
    reference: str | None  # ground-truth text; None in no-reference mode

    @property
    def duration_s(self) -> float:
        """Length of the audio in seconds."""
        return len(self.audio) / SAMPLE_RATE


@dataclass(frozen=True)
class FileProblem:
    """A file left out of the corpus, and why."""

    path: Path
    reason: str


@dataclass(frozen=True)
class Corpus:
    """The usable utterances of a directory, sorted by name, and the files that were skipped."""

    root: Path
    layout: str  # "pairs" | "ljspeech" | "plain"
    utterances: tuple[Utterance, ...]
    problems: tuple[FileProblem, ...]

    @property
    def duration_s(self) -> float:
        """Total audio in seconds."""
        return sum(u.duration_s for u in self.utterances)


@dataclass(frozen=True)
class Candidate:
    """An audio file found by a scan and where its reference comes from: the `NAME.txt` beside it, the
    text of its metadata.csv line, or nothing (no reference required)."""

    name: str
    audio_path: Path
    transcript: Path | str | None


@dataclass(frozen=True)
class Scan:
    """What a directory holds: its layout, candidates sorted by name, and entries rejected while listing."""

    root: Path
    layout: str
    candidates: tuple[Candidate, ...]
    problems: tuple[FileProblem, ...]


@dataclass(frozen=True)
class MetadataRow:
    """One line of an LJSpeech metadata.csv: the clip id and its transcript (normalized, else raw)."""

    clip_id: str
    text: str


class TranscriptError(Exception):
    """A transcript that cannot be used; `reason` is a short human explanation."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def decode_text(data: bytes, what: str = "transcript") -> str:
    """Text from UTF-8 bytes (with or without a BOM) or UTF-16 bytes with a BOM; `what` names the file in
    the error."""
    if data.startswith(_UTF16_BOMS):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise TranscriptError(f"{what} is not valid UTF-16") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TranscriptError(f"{what} is not UTF-8 (convert it: iconv -f LATIN1 -t UTF-8)") from exc
    if "\x00" in text:
        raise TranscriptError(
            f"{what} looks like UTF-16 without a BOM (convert it: iconv -f UTF-16 -t UTF-8)"
        )
    return text


def clean_transcript(text: str) -> str:
    """The transcript on one line, whitespace collapsed; an empty one is rejected."""
    cleaned = " ".join(text.split())
    if not cleaned:
        raise TranscriptError("empty transcript")
    return cleaned


def decode_transcript(data: bytes) -> str:
    """The cleaned transcript held by a NAME.txt file's bytes; raises TranscriptError."""
    return clean_transcript(decode_text(data))


def parse_metadata(text: str) -> tuple[list[MetadataRow], list[str]]:
    """Rows of an LJSpeech metadata.csv (`id|raw|normalized`; `|` only as separator, quotes literal), and
    one message per malformed line. The text is the normalized column, or the raw one when that is empty."""
    rows: list[MetadataRow] = []
    errors: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = [field.strip() for field in line.split("|")]
        if len(fields) not in (2, 3):
            errors.append(f"line {number}: expected id|raw|normalized, found {len(fields)} fields")
        elif not fields[0]:
            errors.append(f"line {number}: empty id")
        else:
            rows.append(MetadataRow(fields[0], fields[-1] or fields[1]))
    return rows, errors


def scan_corpus(root: Path, *, require_reference: bool = True) -> Scan:
    """Detect the layout of `root` and list its candidates; raises CorpusError if it is not a directory."""
    if not root.exists():
        raise CorpusError(f"audio directory {root} does not exist")
    if not root.is_dir():
        raise CorpusError(f"{root} is a file, not a directory: pass the folder that holds the audio")
    try:
        if (root / "metadata.csv").is_file() and (root / "wavs").is_dir():
            return _scan_ljspeech(root, require_reference)
        return _scan_folder(root, PAIRS if require_reference else PLAIN)
    except OSError as exc:
        raise CorpusError(f"cannot list audio directory {root}: {exc.strerror or exc}") from exc


def load_candidate(candidate: Candidate) -> Utterance | FileProblem:
    """Read and validate one candidate: its audio (made read-only) and its reference, if it has one."""
    try:
        audio = read_audio(candidate.audio_path)
        reference = _reference(candidate.transcript)
    except (AudioError, TranscriptError) as exc:
        return FileProblem(candidate.audio_path, exc.reason)
    audio.flags.writeable = False
    return Utterance(candidate.name, audio, reference)


def iter_loaded(scan: Scan) -> Iterator[Utterance | FileProblem]:
    """The scan's listing problems, then each candidate loaded in name order; a name already loaded from
    another file is a problem (both would be NAME.wav in prepare-audio)."""
    yield from scan.problems
    loaded: dict[str, Path] = {}
    for candidate in scan.candidates:
        if candidate.name in loaded:
            yield FileProblem(candidate.audio_path, f"same name as {loaded[candidate.name].name}: rename one")
            continue
        item = load_candidate(candidate)
        if isinstance(item, Utterance):
            loaded[item.name] = candidate.audio_path
        yield item


def load_corpus(root: Path, *, require_reference: bool = True, limit: int | None = None) -> Corpus:
    """Load the usable files of `root` (the first `limit` of them); raises CorpusError if none is usable."""
    if limit is not None and limit < 1:
        raise UsageError(f"--limit must be at least 1, got {limit}")
    scan = scan_corpus(root, require_reference=require_reference)
    utterances: list[Utterance] = []
    problems: list[FileProblem] = []
    for item in iter_loaded(scan):
        if isinstance(item, FileProblem):
            problems.append(item)
            continue
        utterances.append(item)
        if len(utterances) == limit:
            break
    if not utterances:
        raise CorpusError(nothing_usable_message(scan.root, scan.layout, problems))
    return Corpus(scan.root, scan.layout, tuple(utterances), tuple(problems))


def nothing_usable_message(root: Path, layout: str, problems: list[FileProblem]) -> str:
    """One line saying that `root` holds no usable audio, what was looked for, and the first reason."""
    if not problems:
        extensions = " ".join(sorted(AUDIO_EXTENSIONS))
        return f"no audio in {root}: looked for {_LAYOUT_NAMES[layout]} (audio extensions: {extensions})"
    first = problems[0]
    hint = (
        "; or pass --no-reference for latency only" if first.reason.startswith("missing transcript") else ""
    )
    return (
        f"no usable audio in {root} ({_LAYOUT_NAMES[layout]}): 0 of {len(problems)} files usable "
        f"(first: {first.path.name}: {first.reason}); "
        f"run `loadgen prepare-audio {root} OUT` to see every problem{hint}"
    )


def write_pair(directory: Path, name: str, audio: np.ndarray, reference: str | None) -> Path:
    """Write `NAME.wav` (16 kHz mono PCM16) and, given a reference, `NAME.txt` (UTF-8); returns the wav."""
    wav = directory / f"{name}.wav"
    write_pcm16(wav, audio)
    if reference is not None:
        (directory / f"{name}.txt").write_text(reference + "\n", encoding="utf-8")
    return wav


def _reference(source: Path | str | None) -> str | None:
    if source is None:
        return None
    if isinstance(source, str):
        return clean_transcript(source)
    try:
        data = source.read_bytes()
    except FileNotFoundError as exc:
        raise TranscriptError(f"missing transcript {source.name}") from exc
    except OSError as exc:
        raise TranscriptError(f"cannot read transcript {source.name}: {exc.strerror or exc}") from exc
    return decode_transcript(data)


def _scan_folder(root: Path, layout: str) -> Scan:
    audio = sorted(p for p in root.iterdir() if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())
    with_text = layout == PAIRS
    candidates = [Candidate(p.stem, p, p.with_suffix(".txt") if with_text else None) for p in audio]
    return Scan(root, layout, tuple(candidates), ())


def _scan_ljspeech(root: Path, require_reference: bool) -> Scan:
    rows, problems = _read_metadata(root / "metadata.csv")
    candidates: list[Candidate] = []
    for row in sorted(rows, key=lambda r: r.clip_id):
        wav = root / "wavs" / f"{row.clip_id}.wav"
        if wav.is_file():
            candidates.append(Candidate(row.clip_id, wav, row.text if require_reference else None))
        else:
            problems.append(FileProblem(wav, f"id in metadata.csv has no wavs/{row.clip_id}.wav"))
    return Scan(root, LJSPEECH, tuple(candidates), tuple(problems))


def _read_metadata(path: Path) -> tuple[list[MetadataRow], list[FileProblem]]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        return [], [FileProblem(path, f"cannot read: {exc.strerror or exc}")]
    try:
        rows, errors = parse_metadata(decode_text(data, what="metadata.csv"))
    except TranscriptError as exc:
        return [], [FileProblem(path, exc.reason)]
    return rows, [FileProblem(path, error) for error in errors]
