"""Synthesize the ground-truth corpus: `python -m test_audio.generate [--out DIR] [--voice V] [--force]`.

Each `NAME|text` line of sentences.txt becomes `NAME.wav` (espeak-ng, resampled to 16 kHz mono PCM16) and
`NAME.txt` (the text, UTF-8). The same sentences, voice and speed give the same files; files already there
with the same text are kept unless --force.
"""

from __future__ import annotations

import argparse
import io
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from loadgen.core.protocol import SAMPLE_RATE
from loadgen.data.audio_io import to_mono_16k
from loadgen.data.corpus import TranscriptError, decode_transcript, write_pair

SENTENCES = Path(__file__).with_name("sentences.txt")
DEFAULT_OUT = Path(__file__).with_name("corpus")
DEFAULT_VOICE, DEFAULT_SPEED = "en-us", 165
MIN_S, MAX_S = 3.0, 15.0
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")


class GenerationError(Exception):
    """The corpus cannot be generated: bad sentences file, espeak-ng missing or failing, a bad duration."""


@dataclass(frozen=True)
class Sentence:
    """One utterance to synthesize: its file name (without extension) and its text."""

    name: str
    text: str


@dataclass(frozen=True)
class Generated:
    """Names synthesized by this run and names kept from an earlier one."""

    written: tuple[str, ...]
    skipped: tuple[str, ...]


def parse_sentences(text: str) -> list[Sentence]:
    """The `NAME|text` lines of a sentences file (blank lines and `#` comments ignored)."""
    sentences: list[Sentence] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        name, sep, rest = line.partition("|")
        name, sentence = name.strip(), " ".join(rest.split())
        if not sep or not _NAME.fullmatch(name) or not sentence:
            raise GenerationError(f"sentences line {number}: expected NAME|text with NAME in [a-z0-9_-]")
        sentences.append(Sentence(name, sentence))
    names = [s.name for s in sentences]
    if len(set(names)) != len(names):
        raise GenerationError("sentences: every NAME must be unique")
    return sentences


def check_duration(name: str, seconds: float) -> None:
    """Raise GenerationError unless `seconds` is within MIN_S..MAX_S."""
    if not MIN_S <= seconds <= MAX_S:
        raise GenerationError(
            f"{name} is {seconds:.2f} s, outside {MIN_S:g}-{MAX_S:g} s: lengthen or shorten its sentence"
        )


def synthesize(text: str, voice: str, speed: int) -> np.ndarray:
    """`text` spoken by espeak-ng as 16 kHz mono float32."""
    command = ["espeak-ng", "-v", voice, "-s", str(speed), "--stdout"]
    try:
        done = subprocess.run(command, input=text.encode(), capture_output=True, check=False)
    except FileNotFoundError as exc:
        raise GenerationError("espeak-ng is not installed (apt-get install espeak-ng)") from exc
    message = done.stderr.decode("utf-8", "replace").strip()
    if done.returncode != 0 or message:  # an unknown voice is reported on stderr, then spoken by another
        raise GenerationError(f"espeak-ng -v {voice} failed: {message or f'exit status {done.returncode}'}")
    frames, rate = sf.read(io.BytesIO(done.stdout), dtype="float32", always_2d=True)
    return to_mono_16k(frames, rate)


def generate(
    out: Path,
    *,
    voice: str = DEFAULT_VOICE,
    speed: int = DEFAULT_SPEED,
    force: bool = False,
    sentences_file: Path = SENTENCES,
) -> Generated:
    """Write every sentence's NAME.wav + NAME.txt into `out`, keeping current ones unless `force`."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    skipped: list[str] = []
    for sentence in parse_sentences(sentences_file.read_text(encoding="utf-8")):
        if not force and _is_current(out, sentence):
            check_duration(sentence.name, sf.info(out / f"{sentence.name}.wav").duration)
            skipped.append(sentence.name)
            continue
        audio = synthesize(sentence.text, voice, speed)
        check_duration(sentence.name, len(audio) / SAMPLE_RATE)
        write_pair(out, sentence.name, audio, sentence.text)
        written.append(sentence.name)
    return Generated(tuple(written), tuple(skipped))


def _is_current(out: Path, sentence: Sentence) -> bool:
    """NAME.txt (written last) holds this sentence and NAME.wav is a readable sound file."""
    wav, txt = out / f"{sentence.name}.wav", out / f"{sentence.name}.txt"
    try:
        sf.info(wav)
        return decode_transcript(txt.read_bytes()) == sentence.text
    except (OSError, sf.LibsndfileError, TranscriptError):
        return False


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m test_audio.generate", description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument("--voice", default=DEFAULT_VOICE, help=f"espeak-ng voice (default {DEFAULT_VOICE})")
    parser.add_argument("--speed", type=int, default=DEFAULT_SPEED, help="words per minute")
    parser.add_argument("--force", action="store_true", help="regenerate files that are already there")
    args = parser.parse_args(argv)
    try:
        result = generate(args.out, voice=args.voice, speed=args.speed, force=args.force)
    except GenerationError as exc:
        print(f"generate: {exc}", file=sys.stderr)
        return 1
    print(f"{args.out}: {len(result.written)} written, {len(result.skipped)} already there")
    return 0


if __name__ == "__main__":
    sys.exit(main())
