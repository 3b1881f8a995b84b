"""Hostile input to `loadgen run`: one clear line each on stderr and a meaningful exit code
(2 bad flag or value, 3 no usable audio, 4 server unreachable). Real files, real sockets on 127.0.0.1."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from loadgen.cli.entry import main
from loadgen.data.audio_io import MAX_AUDIO_S
from loadgen.data.corpus import load_corpus, write_pair


def run_cli(capsys, *argv: str) -> tuple[int, str]:
    try:
        code = main(["run", *argv])
    except SystemExit as exc:  # argparse
        code = int(exc.code or 0)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return code, lines[0]


@pytest.fixture
def listener() -> Iterator[int]:
    """A port that accepts TCP (enough for the reachability check), and nothing else."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def huge_wav(path: Path, seconds: float) -> None:
    """A valid 8 kHz 8-bit mono WAV header claiming `seconds` of audio; the data is a sparse hole."""
    rate, data = 8000, int(seconds * 8000)
    header = b"RIFF" + struct.pack("<I", 36 + data) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate, 1, 8)
    header += b"data" + struct.pack("<I", data)
    with path.open("wb") as out:
        out.write(header)
        out.truncate(len(header) + data)


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (("--max-reconnects", "0"), "--max-reconnects: must be at least 1"),
        (("--stall-timeout", "-3"), "--stall-timeout: must be greater than 0"),
        (("--reconect",), "unrecognized arguments: --reconect"),
    ],
)
def test_a_bad_resilience_flag_is_one_line_and_exit_2(capsys, argv, says):
    code, line = run_cli(capsys, "--audio-dir", "x", *argv)
    assert code == 2 and says in line


def test_a_dir_of_unusable_files_names_the_first_reason_and_exits_3(capsys, tmp_path):
    (tmp_path / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    (tmp_path / "broken.txt").write_text("hello", encoding="utf-8")
    code, line = run_cli(capsys, "--port", "1", "--audio-dir", str(tmp_path))
    assert code == 3 and str(tmp_path) in line and "broken.wav" in line


def test_a_file_longer_than_the_limit_is_refused_before_it_is_decoded(capsys, tmp_path):
    huge_wav(tmp_path / "meeting.wav", MAX_AUDIO_S + 100)
    (tmp_path / "meeting.txt").write_text("a very long meeting", encoding="utf-8")
    code, line = run_cli(capsys, "--port", "1", "--audio-dir", str(tmp_path))
    assert code == 3 and "meeting.wav: 2.0 h of audio, above the 2 h limit per file: split it" in line
    # beside usable files it is skipped with that reason, and the rest load
    write_pair(tmp_path, "short", np.zeros(16000, dtype=np.float32) + 0.1, "short one")
    corpus = load_corpus(tmp_path)
    assert [u.name for u in corpus.utterances] == ["short"]
    assert "2 h limit per file" in corpus.problems[0].reason


def test_a_latin1_transcript_is_rejected_with_the_fix_and_utf16_with_a_bom_is_read(capsys, tmp_path):
    write_pair(tmp_path, "cafe", np.zeros(16000, dtype=np.float32) + 0.1, None)
    (tmp_path / "cafe.txt").write_bytes("un café crème".encode("latin-1"))
    code, line = run_cli(capsys, "--port", "1", "--audio-dir", str(tmp_path))
    assert code == 3 and "cafe.wav: transcript is not UTF-8 (convert it: iconv -f LATIN1 -t UTF-8)" in line
    (tmp_path / "cafe.txt").write_bytes("un café crème".encode("utf-16"))  # with its BOM
    assert load_corpus(tmp_path).utterances[0].reference == "un café crème"


def test_a_metrics_port_already_taken_is_one_line_and_exit_2(capsys, generated_corpus, listener):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, line = run_cli(
            capsys, "--url", f"ws://127.0.0.1:{listener}", "--audio-dir", str(generated_corpus),
            "--metrics-port", str(port),
        )  # fmt: skip
    assert code == 2 and line.startswith(
        f"loadgen run: --metrics-port {port}: cannot listen on 127.0.0.1:{port}"
    )


def test_an_unresolvable_host_is_one_line_and_exit_4(capsys, generated_corpus):
    code, line = run_cli(capsys, "--host", "no-such-host.invalid", "--audio-dir", str(generated_corpus))
    assert code == 4 and "cannot reach ws://no-such-host.invalid:9090: host 'no-such-host.invalid'" in line
