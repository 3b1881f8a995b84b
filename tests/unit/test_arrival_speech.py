"""What an arriving session streams when the workload has speech activity: talk spurts and pauses filling its
length, a trace's `profile` choosing among --profiles (loadgen.live.arrivals.arrival_audio)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from loadgen.core.arrivals import Arrival
from loadgen.core.errors import UsageError
from loadgen.core.speech import SpeakingProfile, SpeechActivity
from loadgen.core.stream_audio import build_talk_plan, padded
from loadgen.data.corpus import Corpus, Utterance
from loadgen.live.arrivals import arrival_audio

CORPUS = Corpus(
    Path("corpus"),
    "pairs",
    tuple(Utterance(f"u{i}", np.ones(16000 * s, dtype=np.float32), "x") for i, s in enumerate((4, 6, 5))),
    (),
)


def _plan(arrival: Arrival, speech: SpeechActivity | None):
    audio = arrival_audio(CORPUS, arrival, 0, 1.0, speech)
    assert audio.pauses_s is not None
    return padded(build_talk_plan([u.audio for u in audio.utterances], audio.pauses_s), arrival.length_s)


def test_an_arriving_session_alternates_spurts_and_pauses_at_about_the_ratio():
    plans = [_plan(Arrival(0.0, 600.0), SpeechActivity(0.3, seed=seed)) for seed in range(8)]
    ratio = sum(p.speech_s for p in plans) / sum(p.duration_s for p in plans)
    assert ratio == pytest.approx(0.3, abs=0.04)
    # exactly its length (Little's law counts it so): spurts that end within it, then silence
    assert all(p.duration_s == pytest.approx(600.0) for p in plans)


def test_a_trace_profile_picks_the_named_speaking_profile():
    speech = SpeechActivity(
        profiles=(SpeakingProfile("listener", 0.5, 0.1), SpeakingProfile("talker", 0.5, 0.9)), seed=2
    )
    talker = _plan(Arrival(0.0, 300.0, profile="talker"), speech)
    listener = _plan(Arrival(0.0, 300.0, profile="listener"), speech)
    assert talker.speech_s / talker.duration_s > 0.6 > 0.3 > listener.speech_s / listener.duration_s


def test_a_trace_profile_missing_from_the_profiles_is_one_usage_error():
    with pytest.raises(UsageError, match="speaking profile 'chair'"):
        arrival_audio(CORPUS, Arrival(0.0, 60.0, profile="chair"), 0, 1.0, SpeechActivity(0.3))


def test_without_speech_activity_an_arrival_streams_whole_files_then_silence():
    audio = arrival_audio(CORPUS, Arrival(0.0, 12.0), 0, 1.0, None)
    assert audio.pauses_s is None
    assert [u.name for u in audio.utterances] == ["u0", "u1"]  # 4 + 1 + 6 = 11 s fit in 12
