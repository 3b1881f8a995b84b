import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from loadgen.core.errors import CorpusError, UsageError
from loadgen.data.corpus import load_corpus
from loadgen.data.prepare_audio import PrepareReport, format_report, prepare_audio

GOOD = {
    "good": "a good sixteen kilohertz file",
    "stereo44": "stereo at forty four",
    "lossless": "a flac file",
}
BROKEN = {
    "random.wav": "unreadable (not an audio file)",
    "empty.wav": "empty file (0 bytes)",
    "truncated.wav": "corrupt header",
    "noframes.wav": "no audio frames",
    "notext.wav": "missing transcript notext.txt",
    "blank.wav": "empty transcript",
    "latin.wav": "transcript is not UTF-8 (convert it: iconv -f LATIN1 -t UTF-8)",
    "fake.mp3": "unreadable (not an audio file)",
    "broken.m4a": "ffmpeg could not decode: moov atom not found",
}


def speech_like(seconds: float, rate: int, channels: int = 1) -> np.ndarray:
    wave = 0.2 * np.sin(2 * np.pi * 300 * np.arange(round(seconds * rate)) / rate)
    return np.repeat(wave[:, None], channels, axis=1).astype(np.float32)


def make_source(src: Path) -> None:
    """Good files in three formats and rates, and one file per kind of breakage, each with a transcript."""
    src.mkdir()
    rng = np.random.default_rng(7)
    sf.write(src / "good.wav", speech_like(1.0, 16000), 16000, subtype="PCM_16")
    sf.write(src / "stereo44.wav", speech_like(1.5, 44100, channels=2), 44100)
    sf.write(src.parent / "flac-source.wav", speech_like(2.0, 22050), 22050)
    command = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(src.parent / "flac-source.wav")]
    subprocess.run([*command, str(src / "lossless.flac")], check=True)
    (src / "random.wav").write_bytes(rng.bytes(4096))
    (src / "empty.wav").write_bytes(b"")
    (src / "truncated.wav").write_bytes((src / "good.wav").read_bytes()[:30])
    sf.write(src / "noframes.wav", np.zeros(0, np.float32), 16000, subtype="PCM_16")
    for name in ("notext", "blank", "latin"):
        sf.write(src / f"{name}.wav", speech_like(0.5, 16000), 16000)
    (src / "fake.mp3").write_text("this is a text file wearing an mp3 extension\n" * 20)
    (src / "broken.m4a").write_bytes(b"\x00\x00\x00\x18ftypM4A \x00\x00\x02\x00" + rng.bytes(512))
    for name in [*GOOD, "random", "empty", "truncated", "noframes", "fake", "broken"]:
        (src / f"{name}.txt").write_text(GOOD.get(name, "some words"), encoding="utf-8")
    (src / "blank.txt").write_text(" \n\t\n", encoding="utf-8")
    (src / "latin.txt").write_bytes("déjà vu".encode("latin-1"))
    (src / "README.md").write_text("notes about this folder")
    (src / "orphan.txt").write_text("a transcript without audio")


def test_every_broken_file_is_named_with_its_reason_and_good_files_are_converted(tmp_path: Path):
    make_source(tmp_path / "src")
    report = prepare_audio(tmp_path / "src", tmp_path / "dst")
    assert report.layout == "pairs"
    assert {p.path.name: p.reason for p in report.problems} == BROKEN
    assert len(report.problems) == len(BROKEN)
    assert sorted(p.name for p in report.written) == sorted(f"{name}.wav" for name in GOOD)
    for name, text in GOOD.items():
        info = sf.info(tmp_path / "dst" / f"{name}.wav")
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert (tmp_path / "dst" / f"{name}.txt").read_text(encoding="utf-8") == text + "\n"
    assert sf.info(tmp_path / "dst" / "stereo44.wav").frames == 24000
    assert sf.info(tmp_path / "dst" / "lossless.wav").frames == 32000
    assert sorted(p.name for p in (tmp_path / "dst").iterdir()) == sorted(
        f"{name}{ext}" for name in GOOD for ext in (".wav", ".txt")
    )


def test_prepared_directory_loads_as_a_pairs_corpus(tmp_path: Path):
    make_source(tmp_path / "src")
    prepare_audio(tmp_path / "src", tmp_path / "dst")
    corpus = load_corpus(tmp_path / "dst")
    assert corpus.layout == "pairs" and corpus.problems == ()
    assert {u.name: u.reference for u in corpus.utterances} == GOOD


def test_format_report_has_one_line_per_problem_and_a_count(tmp_path: Path):
    make_source(tmp_path / "src")
    lines = format_report(prepare_audio(tmp_path / "src", tmp_path / "dst")).splitlines()
    assert len(lines) == len(BROKEN) + 1
    assert f"skipped {tmp_path / 'src' / 'random.wav'}: unreadable (not an audio file)" in lines
    assert (
        lines[-1]
        == f"3 written, {len(BROKEN)} skipped (pairs layout) into {tmp_path / 'dst'} as 16 kHz mono PCM16"
    )


def test_nothing_usable_writes_nothing_and_says_so(tmp_path: Path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.wav").write_bytes(b"")
    (tmp_path / "src" / "b.ogg").write_text("not audio")
    report = prepare_audio(tmp_path / "src", tmp_path / "dst")
    assert report.written == ()
    assert list((tmp_path / "dst").iterdir()) == []
    assert format_report(report).splitlines()[-1] == "nothing usable: 0 written, 2 skipped (pairs layout)"


def test_format_report_is_pure():
    assert (
        format_report(PrepareReport((), (), "plain")) == "nothing usable: 0 written, 0 skipped (plain layout)"
    )


def test_ljspeech_source_becomes_pairs(tmp_path: Path):
    (tmp_path / "lj" / "wavs").mkdir(parents=True)
    sf.write(tmp_path / "lj" / "wavs" / "LJ1.wav", speech_like(0.5, 22050), 22050)
    (tmp_path / "lj" / "metadata.csv").write_text(
        "LJ1|Raw text, one|Normalized text, one\n", encoding="utf-8"
    )
    report = prepare_audio(tmp_path / "lj", tmp_path / "dst")
    assert report.layout == "ljspeech" and report.problems == ()
    assert (tmp_path / "dst" / "LJ1.txt").read_text(encoding="utf-8") == "Normalized text, one\n"
    assert sf.info(tmp_path / "dst" / "LJ1.wav").samplerate == 16000


def test_no_reference_mode_writes_audio_only(tmp_path: Path):
    (tmp_path / "src").mkdir()
    sf.write(tmp_path / "src" / "clip.wav", speech_like(0.5, 16000), 16000)
    report = prepare_audio(tmp_path / "src", tmp_path / "dst", require_reference=False)
    assert report.layout == "plain" and report.problems == ()
    assert [p.name for p in (tmp_path / "dst").iterdir()] == ["clip.wav"]


def test_missing_source_raises_and_same_directory_is_refused(tmp_path: Path):
    with pytest.raises(CorpusError, match="does not exist"):
        prepare_audio(tmp_path / "missing", tmp_path / "dst")
    with pytest.raises(UsageError, match="is SRC"):
        prepare_audio(tmp_path, tmp_path)
