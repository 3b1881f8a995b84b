import codecs
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from loadgen.core.errors import CorpusError, UsageError
from loadgen.data.audio_io import (
    AudioError,
    downmix,
    ffmpeg_message,
    read_audio,
    resample,
    sniff_container,
    undecodable_reason,
)
from loadgen.data.corpus import (
    MetadataRow,
    TranscriptError,
    decode_transcript,
    load_corpus,
    parse_metadata,
)

SHARED_LJSPEECH = Path(__file__).parents[2].parent / "shared" / "ljspeech"


def tone(seconds: float, rate: int = 16000, channels: int = 1) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    wave = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    return np.repeat(wave[:, None], channels, axis=1) if channels > 1 else wave


def write_tone(
    path: Path, seconds: float, rate: int = 16000, channels: int = 1, text: str | None = None
) -> Path:
    sf.write(path, tone(seconds, rate, channels), rate)
    if text is not None:
        path.with_suffix(".txt").write_text(text, encoding="utf-8")
    return path


def ffmpeg(src: Path, dst: Path) -> Path:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), str(dst)], check=True)
    return dst


# --- pure helpers ---------------------------------------------------------------------------------------


def test_decode_transcript_accepts_utf8_with_or_without_bom_and_utf16_with_bom():
    assert decode_transcript("café au lait\n".encode()) == "café au lait"
    assert decode_transcript(codecs.BOM_UTF8 + "naïve text".encode()) == "naïve text"
    assert decode_transcript("\ufeffüber alles".encode("utf-16-le")) == "über alles"
    assert decode_transcript("\ufeffüber alles".encode("utf-16-be")) == "über alles"
    assert decode_transcript(b"  two\r\nlines  \n") == "two lines"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("café".encode("latin-1"), "transcript is not UTF-8 (convert it: iconv -f LATIN1 -t UTF-8)"),
        (b"", "empty transcript"),
        (codecs.BOM_UTF8 + b" \n\t", "empty transcript"),
        ("hello".encode("utf-16-le"), "transcript looks like UTF-16 without a BOM"),
        (codecs.BOM_UTF16_LE + b"\x00\xd8", "transcript is not valid UTF-16"),
    ],
)
def test_decode_transcript_rejects_with_a_reason(data: bytes, reason: str):
    with pytest.raises(TranscriptError) as caught:
        decode_transcript(data)
    assert caught.value.reason.startswith(reason)


def test_parse_metadata_takes_normalized_else_raw_and_keeps_quotes_literal():
    text = (
        'LJ1|He said "Dr. Smith" twice|He said "Doctor Smith" twice\r\n'
        "\n"
        "LJ2|Only the raw text|\n"
        "LJ3|Two columns only\n"
        "LJ4|a|b|c\n"
        "|no id|no id\n"
    )
    rows, errors = parse_metadata(text)
    assert rows == [
        MetadataRow("LJ1", 'He said "Doctor Smith" twice'),
        MetadataRow("LJ2", "Only the raw text"),
        MetadataRow("LJ3", "Two columns only"),
    ]
    assert errors == [
        "line 5: expected id|raw|normalized, found 4 fields",
        "line 6: empty id",
    ]


def test_sniff_container_by_magic_bytes():
    assert sniff_container(b"RIFF\x00\x00\x00\x00WAVE") == "wav"
    assert sniff_container(b"fLaC\x00") == "flac"
    assert sniff_container(b"OggS\x00") == "ogg"
    assert sniff_container(b"ID3\x04") == "mp3"
    assert sniff_container(b"\xff\xfb\x90\x00") == "mp3"
    assert sniff_container(b"\x00\x00\x00\x20ftypM4A ") == "mp4"
    assert sniff_container(b"hello world") is None


def test_undecodable_reason_and_ffmpeg_message():
    assert undecodable_reason(None, "x") == "unreadable (not an audio file)"
    assert undecodable_reason("wav", "x") == "corrupt header"
    stderr = "[mov,mp4,m4a @ 0x55b92569d900] moov atom not found\nfile:/a/b.m4a: Invalid data\n"
    message = ffmpeg_message(stderr, "file:/a/b.m4a")
    assert undecodable_reason("mp4", message) == "ffmpeg could not decode: moov atom not found"
    assert ffmpeg_message("file:/a/b.ogg: End of file\n", "file:/a/b.ogg") == "End of file"


def test_downmix_and_resample_arithmetic():
    stereo = np.array([[1.0, 0.0], [0.5, 0.5]])
    assert downmix(stereo).tolist() == [0.5, 0.5]
    assert downmix(stereo).dtype == np.float32
    assert len(resample(np.zeros(44100, np.float32), 44100)) == 16000
    assert len(resample(np.zeros(22050, np.float32), 22050)) == 16000
    same = np.zeros(10, np.float32)
    assert resample(same, 16000) is same


# --- layouts ----------------------------------------------------------------------------------------------


def test_pairs_layout_sorted_with_references(tmp_path: Path):
    write_tone(tmp_path / "b.wav", 1.0, text="second file\n")
    write_tone(tmp_path / "a.flac", 0.5, text="first file")
    (tmp_path / "README.md").write_text("not audio")
    corpus = load_corpus(tmp_path)
    assert corpus.layout == "pairs" and corpus.problems == ()
    assert [(u.name, u.reference) for u in corpus.utterances] == [("a", "first file"), ("b", "second file")]
    assert corpus.duration_s == pytest.approx(1.5)


def test_ljspeech_layout_uses_metadata_and_reports_missing_wavs(tmp_path: Path):
    (tmp_path / "wavs").mkdir()
    write_tone(tmp_path / "wavs" / "LJ002.wav", 1.0)
    write_tone(tmp_path / "wavs" / "LJ001.wav", 2.0)
    (tmp_path / "metadata.csv").write_text(
        'LJ002|raw "quoted" one|normalized "quoted" one\nLJ001|raw only|\nLJ003|gone|gone\n', encoding="utf-8"
    )
    corpus = load_corpus(tmp_path)
    assert corpus.layout == "ljspeech"
    assert [(u.name, u.reference) for u in corpus.utterances] == [
        ("LJ001", "raw only"),
        ("LJ002", 'normalized "quoted" one'),
    ]
    assert [(p.path.name, p.reason) for p in corpus.problems] == [
        ("LJ003.wav", "id in metadata.csv has no wavs/LJ003.wav")
    ]


def test_plain_layout_without_references(tmp_path: Path):
    write_tone(tmp_path / "x.wav", 1.0)
    write_tone(tmp_path / "y.ogg", 1.0, text="ignored in no-reference mode")
    corpus = load_corpus(tmp_path, require_reference=False)
    assert corpus.layout == "plain"
    assert [(u.name, u.reference) for u in corpus.utterances] == [("x", None), ("y", None)]


def test_limit_keeps_the_first_usable_files(tmp_path: Path):
    (tmp_path / "a.wav").write_bytes(b"not audio at all")
    for name in "bcde":
        write_tone(tmp_path / f"{name}.wav", 0.2, text=name)
    corpus = load_corpus(tmp_path, limit=2)
    assert [u.name for u in corpus.utterances] == ["b", "c"]
    assert [p.path.name for p in corpus.problems] == ["a.wav"]


def test_limit_below_one_is_a_usage_error(tmp_path: Path):
    with pytest.raises(UsageError, match="--limit must be at least 1, got 0"):
        load_corpus(tmp_path, limit=0)


def test_same_name_in_two_formats_keeps_the_first_usable(tmp_path: Path):
    write_tone(tmp_path / "a.wav", 0.5, text="a")
    write_tone(tmp_path / "a.flac", 0.25)
    (tmp_path / "b.flac").write_bytes(b"broken")
    write_tone(tmp_path / "b.wav", 0.5, text="b")
    corpus = load_corpus(tmp_path)
    assert [(u.name, u.audio.size) for u in corpus.utterances] == [("a", 4000), ("b", 8000)]
    assert [(p.path.name, p.reason) for p in corpus.problems] == [
        ("a.wav", "same name as a.flac: rename one"),
        ("b.flac", "unreadable (not an audio file)"),
    ]


def test_audio_is_read_only_float32(tmp_path: Path):
    write_tone(tmp_path / "a.wav", 0.5, text="a")
    audio = load_corpus(tmp_path).utterances[0].audio
    assert audio.dtype == np.float32 and audio.ndim == 1 and not audio.flags.writeable
    with pytest.raises(ValueError):
        audio[0] = 1.0


# --- conversion -------------------------------------------------------------------------------------------


def test_44k_stereo_wav_is_downmixed_and_resampled(tmp_path: Path):
    path = write_tone(tmp_path / "s.wav", 2.5, rate=44100, channels=2)
    audio = read_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) == 40000
    assert np.abs(audio).max() == pytest.approx(0.3, abs=0.01)


@pytest.mark.parametrize("suffix", [".ogg", ".flac", ".mp3", ".m4a", ".opus"])
def test_ffmpeg_made_files_are_converted(tmp_path: Path, suffix: str):
    source = write_tone(tmp_path / "src.wav", 2.0, rate=44100, channels=2)
    audio = read_audio(ffmpeg(source, tmp_path / f"clip{suffix}"))
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) / 16000 == pytest.approx(2.0, abs=0.06)


def test_read_audio_error_is_an_exception_with_reason(tmp_path: Path):
    (tmp_path / "e.wav").write_bytes(b"")
    with pytest.raises(AudioError) as caught:
        read_audio(tmp_path / "e.wav")
    assert caught.value.reason == "empty file (0 bytes)" == str(caught.value)


# --- errors -----------------------------------------------------------------------------------------------


def test_missing_directory_and_file_path(tmp_path: Path):
    with pytest.raises(CorpusError, match=r"audio directory .*nope does not exist"):
        load_corpus(tmp_path / "nope")
    (tmp_path / "f.wav").write_bytes(b"x")
    with pytest.raises(CorpusError, match="is a file, not a directory"):
        load_corpus(tmp_path / "f.wav")


def test_empty_directory_names_the_layout(tmp_path: Path):
    with pytest.raises(CorpusError) as caught:
        load_corpus(tmp_path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"no audio in {tmp_path}: looked for NAME.wav + NAME.txt pairs")


def test_nothing_usable_gives_counts_and_first_reason(tmp_path: Path):
    (tmp_path / "a.wav").write_bytes(b"plain text, not audio")
    write_tone(tmp_path / "b.wav", 0.5)
    with pytest.raises(CorpusError) as caught:
        load_corpus(tmp_path)
    assert str(caught.value) == (
        f"no usable audio in {tmp_path} (NAME.wav + NAME.txt pairs): 0 of 2 files usable "
        "(first: a.wav: unreadable (not an audio file)); "
        f"run `loadgen prepare-audio {tmp_path} OUT` to see every problem"
    )


def test_missing_transcripts_suggest_no_reference(tmp_path: Path):
    write_tone(tmp_path / "a.wav", 0.5)
    with pytest.raises(CorpusError, match=r"first: a.wav: missing transcript a.txt.*--no-reference"):
        load_corpus(tmp_path)


# --- the shared LJSpeech sample ----------------------------------------------------------------------------


@pytest.mark.skipif(not SHARED_LJSPEECH.is_dir(), reason=f"{SHARED_LJSPEECH} not present (optional)")
def test_shared_ljspeech_sample_loads():
    corpus = load_corpus(SHARED_LJSPEECH)
    assert corpus.layout == "ljspeech" and corpus.problems == ()
    assert len(corpus.utterances) == 30
    assert all(u.reference for u in corpus.utterances)
    assert all(2.0 < u.duration_s < 11.0 for u in corpus.utterances)
