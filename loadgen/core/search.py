"""Which client counts a ramp runs: an explicit list, or an adaptive knee search. Pure state machines.

A search hands out one `Step` at a time (`next()`), is told whether it passed (`record()`), and ends
when `next()` returns None. The adaptive search grows the count geometrically until a step fails, then
bisects between the last pass and the first fail until the gap is at most the resolution (1 client, or a
percentage of the last pass). The bracket search starts from a guessed pass/fail pair instead (a sweep's
warm start, docs/SWEEP.md): it tests the low guess, then the high one, grows or shrinks geometrically
until a pass and a fail bracket the knee, then bisects the same way. **Max concurrent connections** = the
largest passing step below the smallest failing one (`max_concurrent`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

EXPLICIT, GROW, SHRINK, BISECT = "explicit", "grow", "shrink", "bisect"


@dataclass(frozen=True)
class Step:
    """One step to run: how many clients, and which phase of the search asked for it."""

    clients: int
    phase: str


@dataclass(frozen=True)
class Outcome:
    """What the steps so far say about capacity."""

    capacity: int | None  # max concurrent connections; None when no step below the first failure passed
    first_failure: int | None  # the smallest failing step, None when none failed
    reason: str


class Search(Protocol):
    """What a ramp drives: one step at a time, told each verdict."""

    results: list[tuple[int, bool]]

    def next(self) -> Step | None:
        """The next step, or None when the search is done."""

    def record(self, clients: int, passed: bool) -> None:
        """The verdict of the step just run."""


def max_concurrent(results: Sequence[tuple[int, bool]]) -> int | None:
    """The largest passing client count below the smallest failing one (None if there is none)."""
    failed = [clients for clients, passed in results if not passed]
    limit = min(failed) if failed else math.inf
    passing = [clients for clients, passed in results if passed and clients < limit]
    return max(passing) if passing else None


def clients_label(clients: int) -> str:
    """ "1 client", "4 clients"."""
    return f"{clients} client{'s' if clients > 1 else ''}"


def outcome(
    results: Sequence[tuple[int, bool]],
    label: Callable[[int], str] = clients_label,
    failed_label: Callable[[int], str] = str,
) -> Outcome:
    """Capacity and the sentence that explains it (`label`: how a step is named, e.g. by its rate)."""
    capacity = max_concurrent(results)
    failed = [clients for clients, passed in results if not passed]
    first = min(failed) if failed else None
    if capacity is None and first is not None:
        reason = f"even {label(first)} failed: no capacity found"
    elif capacity is None:
        reason = "no step was judged"
    elif first is None:
        reason = f"no step failed: capacity is at least {label(capacity)} (the limit was not reached)"
    else:
        reason = f"{label(capacity)} passed, {failed_label(first)} failed"
    return Outcome(capacity, first, reason)


def resolved_gap(passing: int, resolution: int, resolution_pct: float | None) -> int:
    """The pass-fail gap at which bisection stops: `resolution` clients, or `resolution_pct` percent of the
    passing count if larger."""
    pct = math.floor(passing * resolution_pct / 100) if resolution_pct else 0
    return max(resolution, pct)


@dataclass
class ExplicitSearch:
    """The given steps in order; stops after the first failure unless `keep_going`."""

    steps: Sequence[int]
    keep_going: bool = False
    results: list[tuple[int, bool]] = field(default_factory=list)

    def next(self) -> Step | None:
        """The next step, or None when the schedule is done."""
        if len(self.results) >= len(self.steps):
            return None
        if not self.keep_going and any(not passed for _, passed in self.results):
            return None
        return Step(self.steps[len(self.results)], EXPLICIT)

    def record(self, clients: int, passed: bool) -> None:
        """The verdict of the step just run."""
        self.results.append((clients, passed))


@dataclass
class AdaptiveSearch:
    """Geometric growth from `start` by `factor` (capped at `max_clients`), then bisection."""

    start: int = 1
    factor: float = 2.0
    max_clients: int = 256
    resolution: int = 1  # stop bisecting when fail - pass <= this many clients ...
    resolution_pct: float | None = None  # ... or this percent of the passing count, if larger
    results: list[tuple[int, bool]] = field(default_factory=list)
    _low: int | None = None  # largest pass of the bracket
    _high: int | None = None  # smallest fail

    def __post_init__(self) -> None:
        if self.start < 1 or self.factor <= 1 or self.max_clients < self.start or self.resolution < 1:
            raise ValueError("need 1 <= start <= max_clients, factor > 1 and resolution >= 1")

    @property
    def phase(self) -> str:
        """GROW until a step has failed, BISECT after."""
        return GROW if self._high is None else BISECT

    def next(self) -> Step | None:
        """The next step, or None when the knee is located (or cannot be)."""
        if not self.results:
            return Step(self.start, GROW)
        if self._high is None:
            last = self.results[-1][0]
            if last >= self.max_clients:
                return None
            return Step(min(self.max_clients, max(last + 1, math.ceil(last * self.factor))), GROW)
        if self._low is None or self._high - self._low <= resolved_gap(
            self._low, self.resolution, self.resolution_pct
        ):
            return None
        return Step((self._low + self._high) // 2, BISECT)

    def record(self, clients: int, passed: bool) -> None:
        """The verdict of the step just run."""
        self.results.append((clients, passed))
        if passed and (self._high is None or clients < self._high):
            self._low = max(self._low or 0, clients)
        elif not passed and (self._high is None or clients < self._high):
            self._high = clients


@dataclass
class BracketSearch:
    """From a guessed bracket: `low` (expected to pass), then `high` (expected to fail). Past a guess
    that was wrong it gallops: steps away from the guess of `high - low` clients, then that times
    `factor`, times `factor` squared... (above a pass, capped at `max_clients`; below a fail, down to 1),
    so a guess one off costs one step and a guess far off a geometric search; then bisection to the
    resolution, as `AdaptiveSearch`."""

    low: int
    high: int
    factor: float = 2.0
    max_clients: int = 256
    resolution: int = 1
    resolution_pct: float | None = None
    results: list[tuple[int, bool]] = field(default_factory=list)
    _pass: int | None = None  # largest pass below the smallest fail
    _fail: int | None = None  # smallest fail

    def __post_init__(self) -> None:
        if not 1 <= self.low < self.high <= self.max_clients or self.factor <= 1 or self.resolution < 1:
            raise ValueError("need 1 <= low < high <= max_clients, factor > 1 and resolution >= 1")

    def _gallop(self) -> int:
        """The next distance from the guess: the bracket's width times factor ** (steps past it)."""
        past = len(self.results) - 2 if self._pass is not None else len(self.results) - 1
        return math.ceil((self.high - self.low) * self.factor ** max(0, past))

    def next(self) -> Step | None:
        """The next step, or None when the knee is located (or cannot be)."""
        if not self.results:
            return Step(self.low, GROW)
        if self._fail is None:  # everything passed: the high guess, then growth
            last = self.results[-1][0]
            if last >= self.max_clients:
                return None
            grown = self.high if last < self.high else last + self._gallop()
            return Step(min(self.max_clients, grown), GROW)
        if self._pass is None:  # everything failed: shrink
            if self._fail <= 1:
                return None
            return Step(max(1, self._fail - self._gallop()), SHRINK)
        if self._fail - self._pass <= resolved_gap(self._pass, self.resolution, self.resolution_pct):
            return None
        return Step((self._pass + self._fail) // 2, BISECT)

    def record(self, clients: int, passed: bool) -> None:
        """The verdict of the step just run."""
        self.results.append((clients, passed))
        if not passed and (self._fail is None or clients < self._fail):
            self._fail = clients
        self._pass = max_concurrent(self.results)
