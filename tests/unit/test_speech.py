"""The talk-spurt model (loadgen.core.speech) and the plans it makes (loadgen.core.stream_audio)."""

from __future__ import annotations

import argparse
import random
import statistics
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from loadgen.cli.commands.common import idle_clients, speech_activity
from loadgen.core.errors import UsageError
from loadgen.core.records import WindowSnapshot
from loadgen.core.session_result import SessionResult
from loadgen.core.shards import merge_windows
from loadgen.core.speech import (
    EXPONENTIAL,
    LOGNORMAL,
    PAUSE_STEP_S,
    SpeakingProfile,
    SpeechActivity,
    draw_pause,
    mean_pause_s,
    parse_profiles,
)
from loadgen.core.stream_audio import (
    build_talk_plan,
    chunks,
    silence,
    speech_between,
    speech_reached,
)
from loadgen.core.summary import summarize
from loadgen.core.window import Window
from loadgen.data.speaking import load_speaking_profiles
from loadgen.live.runner import IdleClients

DURATIONS = [2.0, 4.0, 6.0, 8.0]  # mean talk spurt 5 s


def _plan(layout, durations=DURATIONS):
    audio = [np.ones(int(d * 16000), dtype=np.float32) for d in durations]
    return build_talk_plan([audio[i] for i in layout.utterances], layout.pauses_s)


def test_the_mean_pause_makes_the_speech_share():
    assert mean_pause_s(DURATIONS, 1.0) == 0.0
    assert mean_pause_s(DURATIONS, 0.25) == pytest.approx(15.0)  # 5 s talk, 15 s pause: 25 %


@pytest.mark.parametrize("dist", [EXPONENTIAL, LOGNORMAL])
def test_pauses_are_quantized_and_have_the_mean_asked_for(dist):
    rng = random.Random(7)
    pauses = [draw_pause(rng, 4.0, dist) for _ in range(20000)]
    assert all(abs(p / PAUSE_STEP_S - round(p / PAUSE_STEP_S)) < 1e-9 for p in pauses)
    assert statistics.fmean(pauses) == pytest.approx(4.0, rel=0.05)
    assert min(pauses) >= 0


@pytest.mark.parametrize(("ratio", "dist"), [(0.3, EXPONENTIAL), (0.3, LOGNORMAL), (0.6, EXPONENTIAL)])
def test_sessions_achieve_the_speech_ratio_on_average(ratio, dist):
    activity = SpeechActivity(ratio, pause_dist=dist, seed=3)
    plans = [_plan(activity.layout(c, 0, DURATIONS, 600.0)) for c in range(20)]
    speech = sum(p.speech_s for p in plans)
    audio = sum(p.duration_s for p in plans)
    assert speech / audio == pytest.approx(ratio, abs=0.03)
    for plan in plans:
        assert plan.duration_s >= 600.0  # about L seconds: at least, ending on a spurt
        assert len(plan.pieces) - 1 not in plan.silent  # the session ends on a spurt


def test_full_speech_has_no_pause_and_the_spans_follow_the_pauses():
    layout = SpeechActivity(1.0).layout(1, 0, DURATIONS, 10.0)
    assert set(layout.pauses_s) == {0.0}
    plan = _plan(layout)
    assert plan.silent == frozenset() and plan.speech_ratio == 1.0
    spoken = _plan(type(layout)((0, 1), (0.5, 1.0)))
    assert spoken.speech_spans() == [(0.5, 2.5), (3.5, 7.5)]
    assert spoken.speech_s == 6.0 and spoken.speech_ratio == pytest.approx(6.0 / 7.5)


def test_a_long_pause_is_views_of_one_shared_buffer():
    audio = np.ones(16000, dtype=np.float32)
    plan = build_talk_plan([audio, audio], [0.0, 70.0])
    shared = silence(30.0)
    assert [len(p) / 16000 for p in plan.pieces] == [1.0, 30.0, 30.0, 10.0, 1.0]
    assert all(plan.pieces[i].base is shared for i in plan.silent)
    assert plan.speech_spans() == [(0.0, 1.0), (71.0, 72.0)]
    assert sum(len(c.data) for c in chunks(plan, 4096)) == plan.n_samples * 4


def test_the_layout_is_reproducible_from_the_seed_and_differs_per_client():
    def layout(client: int, seed: int = 5):
        return SpeechActivity(0.3, seed=seed).layout(client, 1, DURATIONS, 100.0)

    assert layout(2) == layout(2)
    assert layout(2) != layout(3)
    assert layout(2) != layout(2, seed=6)


def test_profiles_parse_and_clients_follow_their_shares():
    profiles = parse_profiles("listener:70%@0.2, talker:30%@0.6")
    assert profiles == (SpeakingProfile("listener", 0.7, 0.2), SpeakingProfile("talker", 0.3, 0.6))
    activity = SpeechActivity(profiles=profiles, seed=1)
    for n in (10, 100):
        talkers = sum(activity.ratio_for(c) == 0.6 for c in range(n))
        assert abs(talkers - 0.3 * n) <= 1  # low discrepancy: close to the share even for few clients
    assert activity.describe() == "profiles listener:70%@0.2,talker:30%@0.6, exponential pauses, seed 1"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("listener:70%@0.2", "add up to 70 %"),
        ("listener:70%", "not NAME:SHARE@RATIO"),
        ("a:50%@0.2,a:50%@0.3", "twice"),
        ("a:50%@0,b:50%@0.3", "outside \\(0, 1\\]"),
        ("a:x@0.2", "must be numbers"),
    ],
)
def test_a_bad_profile_spec_is_one_usage_error(spec, message):
    with pytest.raises(UsageError, match=message):
        parse_profiles(spec)


def test_profiles_from_a_toml_file(tmp_path: Path):
    path = tmp_path / "mix.toml"
    path.write_text(
        '[[profile]]\nname = "listener"\nshare = "70%"\nspeech_ratio = 0.2\n'
        '[[profile]]\nname = "talker"\nshare = 0.3\nspeech_ratio = 0.6\n'
    )
    assert load_speaking_profiles(path) == parse_profiles("listener:70%@0.2,talker:30%@0.6")
    path.write_text("[[profile]]\nname = 'x'\n")
    with pytest.raises(UsageError, match="needs name, share and speech_ratio"):
        load_speaking_profiles(path)


def test_speech_between_and_where_it_is_reached():
    spans = [(1.0, 3.0), (5.0, 6.0)]
    assert speech_between(spans, 0.0, 10.0) == 3.0
    assert speech_between(spans, 2.0, 5.5) == 1.5
    assert speech_reached(spans, 2.0, 1.5) == 5.5
    assert speech_reached(spans, 0.0, 3.5) is None


def _result(uid: str, speech_s: float | None, ratio: float | None, idle: bool = False) -> SessionResult:
    return SessionResult(0, 0, uid, [], 0.0, speech_s=speech_s, speech_ratio=ratio, idle=idle)


def test_the_achieved_ratio_weights_each_plan_by_its_audio_and_idle_sessions_count_apart():
    results = [_result("a", 10.0, 0.5), _result("b", 30.0, 0.25), _result("i", 0.0, None, idle=True)]
    summary = summarize(results)
    assert summary.speech_ratio == pytest.approx(40 / 140, abs=1e-4)  # 40 s of speech in 20 + 120 s
    assert (summary.sessions, summary.idle_sessions) == (2, 1)
    assert "speech_ratio" not in summarize([_result("old", None, None)]).to_json_dict()  # an old file
    window = Window(100.0)
    for r in results + results[:1]:  # a session seen twice counts once
        window.streamed(r)
    snap = window.snapshot(101.0)
    assert (snap.speech_ratio, snap.planned_audio_s) == (pytest.approx(0.2857, abs=1e-4), 140.0)
    other = replace(snap, speech_ratio=0.5, planned_audio_s=60.0)
    merged = merge_windows([snap, other])
    assert (merged.speech_ratio, merged.planned_audio_s) == (pytest.approx(0.35, abs=1e-4), 200.0)
    assert WindowSnapshot.from_json(snap.to_json_dict()) == snap


def _args(**flags: object) -> argparse.Namespace:
    return argparse.Namespace(**{"mode": "continuous", "speech_ratio": None, "profiles": None, **flags})


def test_the_flags_make_the_activity_or_one_usage_error(tmp_path: Path):
    assert speech_activity(_args()) is None
    assert speech_activity(_args(speech_ratio=0.3, seed=4)) == SpeechActivity(0.3, seed=4)
    with pytest.raises(UsageError, match="add --mode continuous"):
        speech_activity(_args(mode="per-file", speech_ratio=0.3))
    with pytest.raises(UsageError, match="outside"):
        speech_activity(_args(speech_ratio=1.5))
    with pytest.raises(UsageError, match="both set"):
        speech_activity(_args(speech_ratio=0.3, profiles="a:100%@0.2"))
    path = tmp_path / "p.toml"
    path.write_text("[[profile]]\nname = 'all'\nshare = 1\nspeech_ratio = 0.4\n")
    assert speech_activity(_args(profiles=f"@{path}")) == SpeechActivity(
        profiles=(SpeakingProfile("all", 1.0, 0.4),)
    )
    assert idle_clients(argparse.Namespace(idle_clients=4, idle_mode="nothing")) == IdleClients(4, "nothing")
    with pytest.raises(UsageError, match="--idle-clients must be >= 0"):
        idle_clients(argparse.Namespace(idle_clients=-1))
