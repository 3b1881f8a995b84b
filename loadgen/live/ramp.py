"""The ramp driver: for each step, set the target, reach it, warm up, measure, judge, record.

It drives any `Driver` (the in-process `LoadService` or a `loadgen serve` through `ControlClient`), asks
a `Search` which step comes next, appends every judged step to steps.jsonl as it is judged, and tells a
progress callback where it is. Soak is the same loop with one target and consecutive windows.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from loadgen.core.records import Shard, StepRecord, WindowSnapshot
from loadgen.core.search import Search, Step
from loadgen.core.shards import StepClock
from loadgen.core.verdict import Thresholds, judge
from loadgen.data.results_file import JsonlWriter
from loadgen.live.service import Driver

SOAK = "soak"
WAITING, RAMPING, WARMUP, MEASURING = "waiting", "ramping", "warm-up", "measuring"


@dataclass(frozen=True)
class StepTiming:
    """How long each part of a step takes (seconds)."""

    warmup_s: float = 10.0
    hold_s: float = 60.0
    ramp_timeout_s: float = 60.0  # beyond the connect schedule, to wait for every client to stream
    connect_rate: float = 5.0  # the generator's, to know how long reaching a target should take
    poll_s: float = 0.5

    def ramp_s(self, from_clients: int, to_clients: int) -> float:
        """Expected time to connect the missing clients."""
        return max(0, to_clients - from_clients) / self.connect_rate

    def step_s(self, from_clients: int, to_clients: int) -> float:
        """Expected length of a whole step."""
        return self.ramp_s(from_clients, to_clients) + self.warmup_s + self.hold_s

    def to_json_dict(self) -> dict[str, float]:
        """For run.json."""
        return {"warmup_s": self.warmup_s, "hold_s": self.hold_s, "ramp_timeout_s": self.ramp_timeout_s}


@dataclass
class RampState:
    """Where the ramp is, for the live view."""

    step: Step | None = None
    index: int = -1
    stage: str = RAMPING
    stage_ends_at: float | None = None
    target: int = 0
    active: int = 0
    window: WindowSnapshot | None = None
    steps: list[StepRecord] = field(default_factory=list)
    planned_steps: list[int] | None = None  # explicit schedules: every step's clients, for the time left


@dataclass(frozen=True)
class RateMode:
    """Steps of arrival rate: level k of the search runs at `rate_of(k)` sessions per second, and the
    ramp gives the open system `fill_s` seconds (about one mean session length) to fill up."""

    rate_of: Callable[[int], float]
    fill_s: float


Listener = Callable[[RampState], None]
StepHook = Callable[[int], Coroutine[Any, Any, None]]  # run as a task when step `index` starts (e.g. chaos)
Clock = Callable[[], float]  # wall-clock (unix) seconds
Sleep = Callable[[float], Awaitable[None]]


class Ramp:
    """Runs steps against a driver; `steps` (the records of steps.jsonl) survive an interruption."""

    def __init__(
        self,
        driver: Driver,
        timing: StepTiming,
        thresholds: Thresholds,
        steps_file: JsonlWriter,
        baseline_wer: float | None = None,
        listener: Listener = lambda _state: None,
        sharding: tuple[Shard, StepClock] | None = None,
        on_step: StepHook | None = None,
        now: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
        rates: RateMode | None = None,
    ) -> None:
        self.driver = driver
        self.rates = rates
        self.now, self.sleep = now, sleep
        self.sharding = sharding
        self.on_step = on_step
        self._hooks: list[asyncio.Task[None]] = []
        self.timing = timing
        self.thresholds = thresholds
        self.steps_file = steps_file
        self.baseline_wer = baseline_wer
        self.listener = listener
        self.state = RampState()
        self.repeat: int | None = None  # `ramp --repeat`: the repetition now running, written on each step

    @property
    def steps(self) -> list[StepRecord]:
        """Every judged step so far."""
        return self.state.steps

    async def run(self, search: Search) -> list[StepRecord]:
        """Run steps until the search is done; step hooks still running at the end are cancelled (a
        paused replica is resumed by its hook's own cleanup). Step indexes go on from the steps a
        previous search (an earlier repetition) ran."""
        index = len(self.steps)
        try:
            while (step := search.next()) is not None:
                if self.on_step is not None:
                    self._hooks.append(asyncio.create_task(self.on_step(index)))
                record = await self.step(index, step)
                search.record(step.clients, bool(record.passed))
                index += 1
        finally:
            for hook in self._hooks:
                hook.cancel()
            await asyncio.gather(*self._hooks, return_exceptions=True)
        return self.steps

    async def step(self, index: int, step: Step) -> StepRecord:
        """Reach the step's target, warm up, hold, judge."""
        if self.sharding is not None:
            return await self._aligned_step(index, step, *self.sharding)
        started_at = await self.reach(index, step)
        await self._wait(WARMUP, self.timing.warmup_s)
        return await self.measure(index, step, started_at, self.timing.hold_s)

    async def _aligned_step(self, index: int, step: Step, shard: Shard, clock: StepClock) -> StepRecord:
        """A shard's step: this shard's share of the clients, every phase on the shared wall clock."""
        await self._wait(WAITING, clock.start(index) - self.now())
        part = Step(shard.share(step.clients), step.phase)
        started_at = await self.reach(index, part)
        await self._wait(WARMUP, clock.measure_from(index) - self.now())
        return await self.measure(index, part, started_at, self.timing.hold_s, (shard, step.clients))

    async def soak(self, clients: int, duration_s: float, window_s: float) -> list[StepRecord]:
        """Reach `clients`, warm up, then judge consecutive windows until `duration_s` of measuring."""
        step = Step(clients, SOAK)
        started_at = await self.reach(0, step)
        await self._wait(WARMUP, self.timing.warmup_s)
        end = self.now() + duration_s
        index = 0
        while (left := end - self.now()) > 0.5:
            await self.measure(index, step, started_at, min(window_s, left))
            started_at = self.now()
            index += 1
        return self.steps

    async def reach(self, index: int, step: Step) -> float:
        """Set the target and wait until that many sessions stream (or the ramp timeout); returns when
        the target was set."""
        self.state.step, self.state.index = step, index
        if self.rates is not None:
            status = await self.driver.set_rate(self.rates.rate_of(step.clients), index)
            started_at = self.now()
            self._show(status.target, status.active)
            await self._wait(RAMPING, self.rates.fill_s)
            return started_at
        before = await self.driver.status()
        status = await self.driver.set_target(step.clients, index)
        started_at = self.now()
        expected = self.timing.ramp_s(before.clients, step.clients)
        deadline = started_at + expected + self.timing.ramp_timeout_s
        self.state.target, self.state.active = status.target, status.active
        self._stage(RAMPING, started_at + expected)
        while status.active < step.clients and self.now() < deadline:
            await self.sleep(self.timing.poll_s)
            status = await self.driver.status()
            self._show(status.target, status.active)
        return started_at

    async def measure(
        self,
        index: int,
        step: Step,
        started_at: float,
        hold_s: float,
        shard: tuple[Shard, int] | None = None,
    ) -> StepRecord:
        """Start a window, hold it for `hold_s`, judge it, append the record to steps.jsonl; `shard`: this
        generator's shard and the whole step's clients."""
        measure_from = await self.driver.start_window()
        await self._wait(MEASURING, hold_s)
        window = (await self.driver.window()).window
        if self.baseline_wer is None and window.wer is not None:
            self.baseline_wer = window.wer  # the first step with a WER (normally 1 client) is the baseline
        record = StepRecord(
            index=index,
            clients=step.clients,
            phase=step.phase,
            started_at=round(started_at, 3),
            measure_from=round(measure_from, 3),
            ended_at=round(self.now(), 3),
            window=window,
            verdict=judge(window, self.thresholds, self.baseline_wer),
            baseline_wer=self.baseline_wer,
            shard=None if shard is None else shard[0],
            step_clients=None if shard is None else shard[1],
            repeat=self.repeat,
            rate=None if self.rates is None else self.rates.rate_of(step.clients),
        )
        self.steps_file.append(record.to_json_dict())
        self.state.steps.append(record)
        self.state.window = None
        self.listener(self.state)
        return record

    async def _wait(self, stage: str, seconds: float) -> None:
        """Sleep `seconds`, refreshing the live view (and the window while measuring)."""
        end = self.now() + seconds
        self._stage(stage, end)
        while (left := end - self.now()) > 0:
            await self.sleep(min(self.timing.poll_s * 2, left))
            if stage == MEASURING:
                current = await self.driver.window()
                self.state.window = current.window
                self._show(current.target, current.active)
            else:
                status = await self.driver.status()
                self._show(status.target, status.active)

    def _stage(self, stage: str, ends_at: float) -> None:
        self.state.stage, self.state.stage_ends_at = stage, ends_at
        self.listener(self.state)

    def _show(self, target: int, active: int) -> None:
        self.state.target, self.state.active = target, active
        self.listener(self.state)


def time_left(state: RampState, timing: StepTiming, now: float) -> float | None:
    """Seconds left in the current step plus every planned step after it (None: unknown, adaptive)."""
    if state.stage_ends_at is None:
        return None
    left = max(0.0, state.stage_ends_at - now)
    if state.stage == RAMPING:
        left += timing.warmup_s + timing.hold_s
    elif state.stage == WARMUP:
        left += timing.hold_s
    if state.planned_steps is None:
        return left
    later = state.planned_steps[state.index + 1 :]
    previous = state.step.clients if state.step else 0
    for clients in later:
        left += timing.step_s(previous, clients)
        previous = clients
    return left


async def repeat_search(ramp: Ramp, searches: list[Search]) -> list[StepRecord]:
    """Run each search in turn on one ramp, the steps of each marked with its repetition (none when
    there is only one)."""
    for repeat, search in enumerate(searches):
        ramp.repeat = repeat if len(searches) > 1 else None
        await ramp.run(search)
    return ramp.steps


def first_failure_is_generator(steps: list[StepRecord]) -> bool:
    """True when the smallest failing step failed only because the generator was saturated."""
    failed = [(s.clients, s.verdict) for s in steps if s.verdict is not None and not s.verdict.passed]
    if not failed:
        return False
    _, first = min(failed, key=lambda f: f[0])
    return {c.name for c in first.failing} == {"send_slip_p99"}
