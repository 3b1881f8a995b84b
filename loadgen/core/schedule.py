"""Which utterances each simulated client streams, and when clients start. Pure."""

from __future__ import annotations

from collections.abc import Iterator, Sequence


def utterance_cycle(client: int, n_utterances: int) -> Iterator[int]:
    """Corpus indexes for one client, endlessly, starting at its own offset so clients differ."""
    index = client % n_utterances
    while True:
        yield index
        index = (index + 1) % n_utterances


def continuous_selection(
    client: int, durations_s: Sequence[float], target_s: float | None, gap_s: float, within: bool = False
) -> list[int]:
    """Utterances for one continuous session: a full pass, or enough to fill `target_s` seconds (`within`:
    as many as fit in `target_s`, at least one)."""
    cycle = utterance_cycle(client, len(durations_s))
    if target_s is None:
        return [next(cycle) for _ in durations_s]
    chosen: list[int] = []
    total = 0.0
    while total < target_s:
        index = next(cycle)
        added = durations_s[index] + (gap_s if chosen else 0.0)
        if within and chosen and total + added > target_s:
            break
        total += added
        chosen.append(index)
    return chosen


def start_offset(client: int, connect_rate: float) -> float:
    """Seconds after the run starts at which `client` connects, `connect_rate` clients per second."""
    return client / connect_rate
