import hashlib
from pathlib import Path

import pytest
import soundfile as sf

from test_audio.generate import (
    MAX_S,
    MIN_S,
    SENTENCES,
    GenerationError,
    Sentence,
    check_duration,
    generate,
    main,
    parse_sentences,
)

SENTENCE_LIST = parse_sentences(SENTENCES.read_text(encoding="utf-8"))


def digests(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    assert main(["--out", str(out)]) == 0
    return out


def test_generated_pairs_match_the_sentences(generated: Path):
    assert len(SENTENCE_LIST) >= 12
    assert sorted(p.name for p in generated.iterdir()) == sorted(
        f"{s.name}{ext}" for s in SENTENCE_LIST for ext in (".wav", ".txt")
    )
    for sentence in SENTENCE_LIST:
        info = sf.info(generated / f"{sentence.name}.wav")
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert MIN_S <= info.duration <= MAX_S, sentence.name
        assert (generated / f"{sentence.name}.txt").read_text(encoding="utf-8") == sentence.text + "\n"


def test_second_run_skips_everything(generated: Path):
    before = digests(generated)
    result = generate(generated)
    assert result.written == ()
    assert result.skipped == tuple(s.name for s in SENTENCE_LIST)
    assert digests(generated) == before


def test_same_sentences_voice_and_speed_give_the_same_files(generated: Path, tmp_path: Path):
    generate(tmp_path)
    assert digests(tmp_path) == digests(generated)


def test_edited_sentence_and_force_regenerate(generated: Path, tmp_path: Path):
    generate(tmp_path)
    first = SENTENCE_LIST[0].name
    (tmp_path / f"{first}.txt").write_text("an older version of the sentence\n", encoding="utf-8")
    assert generate(tmp_path).written == (first,)
    assert len(generate(tmp_path, force=True).written) == len(SENTENCE_LIST)
    assert digests(tmp_path) == digests(generated)


def test_parse_sentences_skips_blanks_and_comments():
    text = "# a comment\n\nalpha|  The first   line. \nbeta_2|Second line here.\n"
    assert parse_sentences(text) == [
        Sentence("alpha", "The first line."),
        Sentence("beta_2", "Second line here."),
    ]


@pytest.mark.parametrize("text", ["no separator here", "Bad Name|text", "name|", "a|one\na|two"])
def test_parse_sentences_rejects_bad_lines(text: str):
    with pytest.raises(GenerationError):
        parse_sentences(text)


def test_durations_outside_the_range_fail_clearly():
    check_duration("ok", 3.0)
    with pytest.raises(GenerationError, match=r"short is 2.98 s, outside 3-15 s"):
        check_duration("short", 2.98)
    with pytest.raises(GenerationError, match=r"long is 15.50 s"):
        check_duration("long", 15.5)


def test_too_long_sentence_writes_nothing(tmp_path: Path):
    sentences = tmp_path / "sentences.txt"
    sentences.write_text("long|" + " ".join(["and then the story went on"] * 12) + "\n", encoding="utf-8")
    with pytest.raises(GenerationError, match=r"long is .* outside 3-15 s"):
        generate(tmp_path / "out", sentences_file=sentences)
    assert list((tmp_path / "out").iterdir()) == []


def test_unknown_voice_fails_clearly(tmp_path: Path):
    assert main(["--out", str(tmp_path), "--voice", "zz-not-a-voice"]) == 1
