"""Capacity over repetitions of a search (`loadgen ramp --repeat R`). Pure.

Each repetition is a whole search with its own capacity (`loadgen.core.search.outcome`); the answer is
their median, with how many runs agree and the range they span.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

EN_DASH = "\N{EN DASH}"


def _count(n: float) -> str:
    return f"{n:g}"


@dataclass(frozen=True)
class RepeatedCapacity:
    """Each repetition's capacity (None: that run found none), in the order they ran."""

    capacities: tuple[int | None, ...]

    @property
    def found(self) -> list[int]:
        """The capacities the runs found."""
        return [c for c in self.capacities if c is not None]

    @property
    def median(self) -> float | None:
        """The median of the capacities found (None when no run found one)."""
        return statistics.median(self.found) if self.found else None

    @property
    def low(self) -> int | None:
        """The smallest capacity found."""
        return min(self.found, default=None)

    @property
    def high(self) -> int | None:
        """The largest capacity found."""
        return max(self.found, default=None)

    @property
    def agreeing(self) -> int:
        """How many runs found the median itself (0 when it is between two runs' answers)."""
        return sum(1 for c in self.capacities if c is not None and c == self.median)

    def headline(self) -> str:
        """'capacity 4 (3 of 3 runs; range 4-4)' (an en dash in the range), or the median and the range
        when the runs disagree."""
        runs = len(self.capacities)
        missing = runs - len(self.found)
        none = f"; {missing} found none" if missing else ""
        if self.median is None:
            return f"capacity none ({runs} of {runs} runs found none)"
        spread = f"range {self.low}{EN_DASH}{self.high}"
        if self.agreeing == runs:
            return f"capacity {_count(self.median)} ({runs} of {runs} runs; {spread})"
        each = ", ".join("none" if c is None else str(c) for c in self.capacities)
        agree = f"{self.agreeing} of {runs} runs at it" if self.agreeing else "no run at it"
        return f"capacity {_count(self.median)} (median of {runs} runs: {each}; {agree}; {spread}{none})"
