"""Open-model traffic: session-length distributions, arrival times, Little's law. Pure.

A closed workload keeps N clients busy; an open one starts sessions at arrival times that do not depend
on how the server copes (k6's arrival-rate executors, guidellm's poisson rate). Each arrival is one
session of a sampled length. Offered concurrency is Little's law, arrival rate x mean session length;
the achieved concurrency is the time-weighted mean of the sessions' (start, end) intervals over a window.
Everything random takes a seed, so a run's arrivals can be reproduced and written as a trace.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from loadgen.core.search import outcome

CLOSED, POISSON, CONSTANT = "closed", "poisson", "constant"
ARRIVALS = (CLOSED, POISSON, CONSTANT)
FIXED, UNIFORM, LOGNORMAL = "fixed", "uniform", "lognormal"
LENGTH_FORMS = "fixed:S, uniform:A,B or lognormal:MEAN,SD (seconds), or a plain number"


@dataclass(frozen=True)
class SessionLength:
    """Seconds of audio per session: `fixed` (a), `uniform` (a..b) or `lognormal` (mean a, sd b)."""

    kind: str
    a: float
    b: float = 0.0

    @property
    def mean_s(self) -> float:
        """The mean length."""
        return (self.a + self.b) / 2 if self.kind == UNIFORM else self.a

    def sample(self, rng: random.Random) -> float:
        """One length drawn from the distribution (lognormal: with the given mean and sd of the lengths)."""
        if self.kind == UNIFORM:
            return rng.uniform(self.a, self.b)
        if self.kind == LOGNORMAL:
            sigma2 = math.log1p((self.b / self.a) ** 2)
            return rng.lognormvariate(math.log(self.a) - sigma2 / 2, math.sqrt(sigma2))
        return self.a

    def __str__(self) -> str:
        """The flag value that parses back to this distribution (how run.json and the report show it)."""
        return f"{self.kind}:{self.a:g}" + (f",{self.b:g}" if self.kind != FIXED else "")


def parse_session_length(text: str) -> SessionLength:
    """`fixed:S`, `uniform:A,B`, `lognormal:MEAN,SD` or a plain number (fixed); ValueError otherwise."""
    kind, _, values = text.strip().partition(":")
    if not values:
        kind, values = FIXED, kind
    try:
        numbers = [float(v) for v in values.split(",")]
    except ValueError:
        raise ValueError(f"session length {text!r} is not {LENGTH_FORMS}") from None
    arity = {FIXED: 1, UNIFORM: 2, LOGNORMAL: 2}.get(kind)
    if arity is None or len(numbers) != arity or not all(math.isfinite(n) for n in numbers):
        raise ValueError(f"session length {text!r} is not {LENGTH_FORMS}")
    length = SessionLength(kind, *numbers)
    if (
        not length.a > 0
        or (kind == UNIFORM and not length.b >= length.a)
        or (kind == LOGNORMAL and length.b < 0)
    ):
        raise ValueError(
            f"session length {text!r}: lengths must be > 0, uniform's A <= B, lognormal's SD >= 0"
        )
    return length


@dataclass(frozen=True)
class Arrival:
    """One session of an open workload or a trace: when it starts (seconds after the run's start), how
    many seconds of audio it streams, and optionally a speaking profile or a corpus file to stream."""

    start_s: float
    length_s: float
    profile: str | None = None
    file: str | None = None


def arrival_times(kind: str, rate: float, rng: random.Random) -> Iterator[float]:
    """Arrival times from 0, endlessly: `poisson` (exponential gaps of mean 1/rate, the first one too) or
    `constant` (one every 1/rate seconds, the first at 0)."""
    if not rate > 0:
        raise ValueError(f"arrival rate must be > 0, got {rate}")
    if kind == CONSTANT:
        return (k / rate for k in itertools.count())
    if kind != POISSON:
        raise ValueError(f"arrival process {kind!r} is not {POISSON} or {CONSTANT}")
    return itertools.accumulate(rng.expovariate(rate) for _ in itertools.count())


def arrival_stream(kind: str, rate: float, length: SessionLength, rng: random.Random) -> Iterator[Arrival]:
    """Sessions of an open workload, endlessly: arrival times and lengths drawn from one generator."""
    return (Arrival(at, length.sample(rng)) for at in arrival_times(kind, rate, rng))


def open_arrivals(
    kind: str, rate: float, duration_s: float, length: SessionLength, seed: int
) -> list[Arrival]:
    """The sessions arriving in [0, duration_s), reproducible from `seed`."""
    stream = arrival_stream(kind, rate, length, random.Random(seed))
    return list(itertools.takewhile(lambda a: a.start_s < duration_s, stream))


def offered_concurrency(rate: float, mean_length_s: float) -> float:
    """Little's law: sessions in the system = arrival rate x mean time each spends there."""
    return rate * mean_length_s


def settled_window(duration_s: float, mean_length_s: float) -> tuple[float, float]:
    """The part of [0, duration_s] where an open workload that started empty has filled up: from one
    mean session length in (at most half the run) to the end of the arrivals."""
    return min(mean_length_s, duration_s / 2), duration_s


def mean_concurrency(intervals: Iterable[tuple[float, float]], start: float, end: float) -> float:
    """Time-weighted mean number of the (from, to) intervals open during [start, end]."""
    if not end > start:
        raise ValueError(f"window end {end} is not after its start {start}")
    covered = sum(max(0.0, min(to, end) - max(since, start)) for since, to in intervals)
    return covered / (end - start)


@dataclass(frozen=True)
class GapStats:
    """Arrivals seen over a span: how many, their rate, and the coefficient of variation of the gaps
    (1 for a Poisson process, 0 for a constant rate)."""

    arrivals: int
    rate: float
    gap_cv: float


def gap_stats(starts: Sequence[float], span_s: float) -> GapStats:
    """Rate and gap CV of arrival times over a span of `span_s` seconds (the CV NaN below 3 arrivals)."""
    ordered = sorted(starts)
    gaps = [b - a for a, b in itertools.pairwise(ordered)]
    if len(gaps) < 2:
        return GapStats(len(ordered), len(ordered) / span_s, math.nan)
    mean = sum(gaps) / len(gaps)
    sd = math.sqrt(sum((g - mean) ** 2 for g in gaps) / (len(gaps) - 1))
    return GapStats(len(ordered), len(ordered) / span_s, sd / mean if mean > 0 else math.nan)


@dataclass(frozen=True)
class OpenFigures:
    """What an open run offered and achieved (docs/TRACES.md): offered concurrency is Little's law over
    the planned lengths; achieved is the time-weighted mean of the sessions' (started_at, ended_at) over
    the settled window (seconds from the run's start); the rate and gap CV are of the measured starts."""

    scheduled: int  # arrivals in the schedule
    launched: int
    dropped: int  # arrivals that found --max-concurrency sessions in flight
    rate: float  # offered arrivals per second
    mean_length_s: float
    offered_concurrency: float
    achieved_concurrency: float
    window_s: tuple[float, float]
    measured_rate: float
    gap_cv: float
    start_late_p50_s: float
    start_late_max_s: float


def open_figures(
    rate: float,
    mean_length_s: float,
    span_s: float,
    scheduled: int,
    late_s: Sequence[float],
    dropped: int,
    intervals: Sequence[tuple[float, float]],
) -> OpenFigures:
    """The figures of an open run from its schedule's rate, mean length and span, how late each session
    started, the drops, and each session's (start, end) in seconds from the run's start."""
    window = settled_window(span_s, mean_length_s)
    starts = [since for since, _ in intervals if since < span_s]
    gaps = gap_stats(starts, span_s)
    late = sorted(late_s) or [math.nan]
    return OpenFigures(
        scheduled=scheduled,
        launched=len(late_s),
        dropped=dropped,
        rate=round(rate, 6),
        mean_length_s=round(mean_length_s, 3),
        offered_concurrency=round(offered_concurrency(rate, mean_length_s), 3),
        achieved_concurrency=round(mean_concurrency(intervals, *window), 3),
        window_s=(round(window[0], 3), round(window[1], 3)),
        measured_rate=round(gaps.rate, 6),
        gap_cv=round(gaps.gap_cv, 4),
        start_late_p50_s=round(late[len(late) // 2], 4),
        start_late_max_s=round(late[-1], 4),
    )


@dataclass(frozen=True)
class RateCapacity:
    """A rate-mode ramp's answer: the highest passing arrival rate below the first failing one, and the
    concurrency it produced (time-weighted mean streams of that step's window)."""

    rate: float | None
    concurrency: float | None
    first_failure_rate: float | None
    reason: str


def rate_capacity(
    results: Sequence[tuple[int, bool]], rate_of: Callable[[int], float], concurrency_of: Mapping[int, float]
) -> RateCapacity:
    """The answer of a search over levels (level k runs at `rate_of(k)`); `concurrency_of`: the measured
    mean streams of each passing level."""

    def label(level: int) -> str:
        return f"{rate_of(level):g}/s"

    found = outcome(results, label, label)
    level = found.capacity
    streams = None if level is None else concurrency_of.get(level)
    produced = (
        "" if streams is None else f"; the {label(level or 0)} step produced {streams:.1f} concurrent streams"
    )
    return RateCapacity(
        None if level is None else rate_of(level),
        streams,
        None if found.first_failure is None else rate_of(found.first_failure),
        found.reason + produced,
    )
