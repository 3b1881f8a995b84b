"""Meeting-like speech activity: talk spurts of corpus speech alternating with pauses of silence. Pure.

The classic on/off conversation model: a session of about L seconds of audio is a pause, a talk spurt (one
corpus utterance), a pause, a spurt... ending on a spurt. Pause lengths are drawn (a seeded
`random.Random`) from an exponential or a lognormal distribution whose mean makes the expected speech
share F: mean pause = mean talk x (1 - F) / F, where mean talk is the corpus' mean utterance length. F = 1
means no pause at all. Pauses are quantized to `PAUSE_STEP_S`; the share achieved is computed from the
plan (`StreamPlan.speech_s / duration_s`) and reported, never assumed.

A mix of speaking profiles (`listener:70%@0.2,talker:30%@0.6`: name, share of the clients, speech ratio)
gives each client one profile, deterministically from its index and the seed: a low-discrepancy sequence,
so that even a few clients follow the shares closely.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from loadgen.core.errors import UsageError
from loadgen.core.schedule import utterance_cycle

EXPONENTIAL, LOGNORMAL = "exponential", "lognormal"
PAUSE_DISTS = (EXPONENTIAL, LOGNORMAL)
PAUSE_STEP_S = 0.1  # pause lengths are multiples of this
LOGNORMAL_SIGMA = 1.0  # shape of the lognormal pauses (the mean is set by the speech ratio)
GOLDEN = (math.sqrt(5) - 1) / 2
DEFAULT_SEED = 1


def check_ratio(ratio: float, what: str = "--speech-ratio") -> float:
    """A speech ratio in (0, 1], else one usage error line."""
    if not 0 < ratio <= 1:
        raise UsageError(f"{what} {ratio:g} is outside (0, 1]: the share of a session's audio that is speech")
    return ratio


@dataclass(frozen=True)
class SpeakingProfile:
    """A kind of meeting participant: its share of the clients and the share of its audio that is speech."""

    name: str
    share: float  # of the clients, 0..1
    speech_ratio: float

    def describe(self) -> str:
        """`name:70%@0.2`, the form `parse_profiles` reads."""
        return f"{self.name}:{self.share * 100:g}%@{self.speech_ratio:g}"


def parse_profiles(spec: str) -> tuple[SpeakingProfile, ...]:
    """`listener:70%@0.2,talker:30%@0.6` (shares in % or 0..1; they must add up to 100 %)."""
    return checked_profiles([parse_profile(part.strip()) for part in spec.split(",")])


def parse_profile(item: str) -> SpeakingProfile:
    """One `NAME:SHARE@RATIO` item (not yet checked against the others)."""
    name, sep, rest = item.partition(":")
    share_text, at, ratio_text = rest.partition("@")
    if not (sep and at and name.strip()):
        raise UsageError(f"--profiles item {item!r} is not NAME:SHARE@RATIO (e.g. listener:70%@0.2)")
    try:
        share = float(share_text.rstrip("%")) / (100 if share_text.endswith("%") else 1)
        ratio = float(ratio_text)
    except ValueError as exc:
        raise UsageError(f"--profiles item {item!r}: share and ratio must be numbers") from exc
    return SpeakingProfile(name.strip(), share, ratio)


def checked_profiles(profiles: Sequence[SpeakingProfile]) -> tuple[SpeakingProfile, ...]:
    """The profiles, validated: ratios in (0, 1], shares > 0 adding up to 1, names unique."""
    if not profiles:
        raise UsageError("--profiles names no profile")
    for p in profiles:
        check_ratio(p.speech_ratio, f"--profiles {p.name}: speech ratio")
        if not p.share > 0:
            raise UsageError(f"--profiles {p.name}: share {p.share:g} must be above 0")
    if len({p.name for p in profiles}) != len(profiles):
        raise UsageError("--profiles names a profile twice")
    total = sum(p.share for p in profiles)
    if abs(total - 1) > 1e-6:
        raise UsageError(f"--profiles shares add up to {total * 100:g} %, not 100 %")
    return tuple(profiles)


@dataclass(frozen=True)
class TalkLayout:
    """One session's audio: `utterances` (corpus indexes) in order; `pauses_s[i]`: the silence before
    utterance i (0: none)."""

    utterances: tuple[int, ...]
    pauses_s: tuple[float, ...]


@dataclass(frozen=True)
class SpeechActivity:
    """How much of each session is speech: one ratio for every client, or a mix of profiles."""

    ratio: float | None = None  # None with no profiles: speech back to back (today's sessions)
    profiles: tuple[SpeakingProfile, ...] = ()
    pause_dist: str = EXPONENTIAL
    seed: int = DEFAULT_SEED

    def __post_init__(self) -> None:
        if self.pause_dist not in PAUSE_DISTS:
            raise UsageError(f"--pause-dist {self.pause_dist!r}: choose one of {', '.join(PAUSE_DISTS)}")
        if self.ratio is not None:
            check_ratio(self.ratio)

    def describe(self) -> str:
        """One line: the ratio or the profiles, and the pause distribution."""
        if self.profiles:
            what = "profiles " + ",".join(p.describe() for p in self.profiles)
        else:
            what = f"speech ratio {self.ratio:g}"
        return f"{what}, {self.pause_dist} pauses, seed {self.seed}"

    def profile_for(self, client: int) -> SpeakingProfile | None:
        """The profile of `client` (None without profiles): its point of a golden-ratio sequence, shifted
        by the seed, falls in its profile's share."""
        if not self.profiles:
            return None
        u = (random.Random(self.seed).random() + client * GOLDEN) % 1.0
        edge = 0.0
        for profile in self.profiles:
            edge += profile.share
            if u < edge:
                return profile
        return self.profiles[-1]

    def named(self, name: str) -> SpeakingProfile:
        """The profile called `name`; a usage error when --profiles has none."""
        for profile in self.profiles:
            if profile.name == name:
                return profile
        known = ", ".join(p.name for p in self.profiles) or "none: give --profiles"
        raise UsageError(f"the trace names speaking profile {name!r}; --profiles has {known}")

    def ratio_for(self, client: int) -> float:
        """The speech ratio `client` aims at."""
        profile = self.profile_for(client)
        if profile is not None:
            return profile.speech_ratio
        assert self.ratio is not None
        return self.ratio

    def layout(
        self,
        client: int,
        seq: int,
        durations_s: Sequence[float],
        length_s: float,
        profile: str | None = None,
        within: bool = False,
    ) -> TalkLayout:
        """Session `seq` of `client`: utterances from the client's own place in the corpus, each after a
        drawn pause (the first pause too, so clients do not all speak at once), until `length_s`
        seconds of audio (`within`: only the spurts that end within it, at least one, for a session of
        exactly that length once padded with silence); `profile` (a trace's) names the speaking profile
        instead of the client's."""
        ratio = self.ratio_for(client) if profile is None else self.named(profile).speech_ratio
        mean_pause = mean_pause_s(durations_s, ratio)
        rng = random.Random(f"{self.seed}:{client}:{seq}")
        cycle = utterance_cycle(client + seq, len(durations_s))
        utterances: list[int] = []
        pauses: list[float] = []
        total = 0.0
        while total < length_s or not utterances:
            pause = draw_pause(rng, mean_pause, self.pause_dist)
            if not utterances:
                pause = round(pause * rng.random() / PAUSE_STEP_S) * PAUSE_STEP_S  # joined mid-pause
            index = next(cycle)
            if within and utterances and total + pause + durations_s[index] > length_s:
                break
            utterances.append(index)
            pauses.append(pause)
            total += pause + durations_s[index]
        return TalkLayout(tuple(utterances), tuple(pauses))


def mean_pause_s(durations_s: Sequence[float], ratio: float) -> float:
    """The mean pause that makes `ratio` of the audio speech, talk spurts being corpus utterances."""
    mean_talk = sum(durations_s) / len(durations_s)
    return mean_talk * (1 - ratio) / ratio


def draw_pause(rng: random.Random, mean_s: float, dist: str) -> float:
    """One pause (seconds, a multiple of `PAUSE_STEP_S`) of mean `mean_s`."""
    if mean_s <= 0:
        return 0.0
    if dist == EXPONENTIAL:
        value = rng.expovariate(1 / mean_s)
    else:
        value = rng.lognormvariate(math.log(mean_s) - LOGNORMAL_SIGMA**2 / 2, LOGNORMAL_SIGMA)
    return round(value / PAUSE_STEP_S) * PAUSE_STEP_S
