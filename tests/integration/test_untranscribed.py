"""Untranscribed speech, end to end: `loadgen simulate --base-lag 1.0 --fault drop` answers 1.0 s behind and
drops each stream's first connection after 1.5 s of audio; `loadgen run --reconnect` resumes the stream,
and the audio that was sent to the dropped connection and never answered is counted as in flight."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from loadgen.data.results_file import read_results
from tests.integration.test_interrupts import REPO, wait_listening

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
SPEECH_S = 2.0  # one utterance, cut short: the audio resumed after the drop is under a second


@pytest.fixture
def short_corpus(generated_corpus: Path, tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    audio, rate = sf.read(generated_corpus / "door.wav", dtype="float32")
    sf.write(corpus / "door.wav", audio[: int(SPEECH_S * rate)], rate)
    words = (generated_corpus / "door.txt").read_text().split()
    (corpus / "door.txt").write_text(" ".join(words[: len(words) // 2]) + "\n")
    return corpus


def test_audio_sent_to_a_dropped_connection_is_untranscribed_in_flight(short_corpus, free_port, tmp_path):
    port = free_port()
    simulate = [sys.executable, "-m", "loadgen", "simulate", "--port", str(port), "--base-lag", "1.0"]
    sim = subprocess.Popen(
        [*simulate, "--fault", "drop", "--audio-dir", str(short_corpus)], cwd=REPO, stdout=subprocess.DEVNULL
    )
    run_dir = tmp_path / "run"
    try:
        wait_listening(port)
        run = subprocess.run(
            [sys.executable, "-m", "loadgen", "run", "--url", f"ws://127.0.0.1:{port}", "--num-clients", "1",
             "--audio-dir", str(short_corpus), "--settle", "1.5", "--reconnect", "--run-dir", str(run_dir)],
            cwd=REPO, capture_output=True, text=True, timeout=90,
        )  # fmt: skip
    finally:
        sim.terminate()
        sim.wait(timeout=10)
    assert run.returncode == 0, run.stderr
    [result], torn = read_results(run_dir / "sessions.jsonl")
    assert not torn
    assert (result.outcome, result.reconnects) == ("recovered", 1), result.error_detail
    u = result.untranscribed
    assert u is not None and result.audio_untranscribed_s is not None
    print(f"untranscribed {result.audio_untranscribed_s:.3f} s: {u}")
    # transcribed up to ~0.5 s (1.0 s behind) when the connection dropped at ~1.5 s of audio
    assert u.in_flight_s == pytest.approx(1.0, abs=0.3)
    assert result.audio_untranscribed_s == pytest.approx(1.0, abs=0.3)
    assert u.gap_s == pytest.approx(result.audio_lost_s, abs=0.001) and u.skipped_s == 0.0
    assert "untranscribed" in run.stdout
