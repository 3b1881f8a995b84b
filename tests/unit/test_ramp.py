"""The ramp loop without sockets: growth, bisection to the knee, hold, warm-up and soak windows.

The real Ramp, Window, verdict and searches run against `SimulatedDriver`, a double of the `Driver` (the
real ones drive WebSocket clients): its clients connect at a fixed rate, and every window reading adds a
transcript lag sample that is fine up to `capacity` streaming clients and over the SLO above it. Time is a
fake clock that only moves when the ramp sleeps, so each test runs in milliseconds.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from loadgen.core.records import CorpusInfo, DriverStatus, StepRecord, WindowReading
from loadgen.core.search import BISECT, GROW, AdaptiveSearch, ExplicitSearch, Search, outcome
from loadgen.core.verdict import Thresholds
from loadgen.core.window import Window
from loadgen.data.results_file import JsonlWriter
from loadgen.live.ramp import MEASURING, RAMPING, WARMUP, Ramp, RampState, StepTiming, repeat_search
from loadgen.report.model.report import RunInputs, build_report

GOOD_LAG_S, BAD_LAG_S = 0.2, 0.9  # against the default 0.5 s SLO
CORPUS = CorpusInfo("audio", "wav+txt", 4, 30.0)
TIMING = StepTiming(warmup_s=5.0, hold_s=20.0, ramp_timeout_s=10.0, connect_rate=4.0, poll_s=0.5)


class FakeClock:
    """Wall-clock seconds that advance only by sleeping."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.t = start
        self.slept = 0.0

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += seconds
        self.slept += seconds


class SimulatedDriver:
    """A `Driver` whose clients connect at `connect_rate` per second, up to `max_connected` of them."""

    def __init__(self, clock: FakeClock, capacity: int, connect_rate: float, max_connected: int = 10**6):
        self.clock = clock
        self.capacity = capacity
        self.connect_rate = connect_rate
        self.max_connected = max_connected
        self.target = 0
        self._from, self._since = 0, clock.now()  # clients when the target was set, and when
        self.current = Window(clock.now())
        self.calls: list[tuple[float, str, int | None]] = []  # (when, what, clients)

    def active(self) -> int:
        if self.target <= self._from:
            return self.target
        grown = self._from + int(self.connect_rate * (self.clock.now() - self._since))
        return min(self.target, grown, self.max_connected)

    async def status(self) -> DriverStatus:
        clients = self.active()
        return DriverStatus(
            "ws://sim", "per-file", CORPUS, self.target, clients, 0, clients, None, None, 0, None
        )

    async def set_target(self, clients: int, step: int | None = None) -> DriverStatus:
        self.calls.append((self.clock.now(), "set_target", clients))
        self._from, self._since = self.active(), self.clock.now()
        self.target = clients
        return await self.status()

    async def start_window(self) -> float:
        self.calls.append((self.clock.now(), "start_window", self.active()))
        self.current = Window(self.clock.now(), self.active())
        return self.clock.now()

    async def window(self) -> WindowReading:
        now, active = self.clock.now(), self.active()
        self.current.sample("transcript_lag", now, GOOD_LAG_S if active <= self.capacity else BAD_LAG_S)
        self.current.sample("send_slip", now, 0.001)
        return WindowReading(self.current.started_at, self.target, active, self.current.snapshot(now))

    async def record_to(self, run_dir: Path | None, shard: int | None = None) -> DriverStatus:
        return await self.status()


Seen = list[tuple[float, str, int]]  # what the live view was told: (when, stage, target)


def _ramp(driver: SimulatedDriver, clock: FakeClock, tmp_path: Path) -> tuple[Ramp, Seen]:
    seen: Seen = []

    def listen(state: RampState) -> None:
        seen.append((clock.now(), state.stage, state.target))

    steps_file = JsonlWriter(tmp_path / "steps.jsonl")
    ramp = Ramp(driver, TIMING, Thresholds(), steps_file, listener=listen, now=clock.now, sleep=clock.sleep)
    return ramp, seen


def _written(tmp_path: Path) -> list[StepRecord]:
    lines = (tmp_path / "steps.jsonl").read_text().splitlines()
    return [StepRecord.from_json(json.loads(line)) for line in lines]


def test_growth_is_geometric_until_a_step_fails_then_bisection_finds_the_knee(tmp_path: Path) -> None:
    clock = FakeClock()
    driver = SimulatedDriver(clock, capacity=11, connect_rate=4.0)
    ramp, _ = _ramp(driver, clock, tmp_path)
    steps = asyncio.run(ramp.run(AdaptiveSearch(start=1, factor=2.0, max_clients=64)))
    assert [(s.clients, s.phase, s.passed) for s in steps] == [
        (1, GROW, True),
        (2, GROW, True),
        (4, GROW, True),
        (8, GROW, True),
        (16, GROW, False),
        (12, BISECT, False),
        (10, BISECT, True),
        (11, BISECT, True),
    ]
    assert [c for _, what, c in driver.calls if what == "set_target"] == [1, 2, 4, 8, 16, 12, 10, 11]
    assert outcome([(s.clients, bool(s.passed)) for s in steps]).capacity == 11
    failing = steps[4].verdict
    assert failing is not None and [c.name for c in failing.failing] == ["p95_transcript_lag"]
    assert _written(tmp_path) == steps  # steps.jsonl holds every judged step, and reads back the same
    assert clock.slept >= 8 * (TIMING.warmup_s + TIMING.hold_s)  # every wait ran on the injected clock


def test_each_step_holds_its_window_for_hold_s_and_the_live_view_follows_it(tmp_path: Path) -> None:
    clock = FakeClock()
    driver = SimulatedDriver(clock, capacity=10, connect_rate=4.0)
    ramp, seen = _ramp(driver, clock, tmp_path)
    steps = asyncio.run(ramp.run(ExplicitSearch([2, 6])))
    for step in steps:
        assert step.measure_from is not None and step.ended_at is not None and step.window is not None
        assert step.ended_at - step.measure_from == pytest.approx(TIMING.hold_s)
        assert step.window.duration_s == pytest.approx(TIMING.hold_s)
        lag = step.window.transcript_lag
        readings = TIMING.hold_s / (2 * TIMING.poll_s) + 1  # the live view's, then the verdict's
        assert lag is not None and lag.count == readings
    stages = [stage for _, stage, _ in seen]
    assert stages.index(RAMPING) < stages.index(WARMUP) < stages.index(MEASURING)
    assert ramp.state.steps == steps and ramp.state.window is None  # no stale window after a step


def test_the_window_starts_only_after_the_warm_up_and_the_target_holds_through_it(tmp_path: Path) -> None:
    clock = FakeClock()
    driver = SimulatedDriver(clock, capacity=10, connect_rate=4.0)
    ramp, seen = _ramp(driver, clock, tmp_path)
    [step] = asyncio.run(ramp.run(ExplicitSearch([8])))
    (set_at, _, target), (window_at, _, streaming) = driver.calls
    reached = set_at + 8 / 4.0  # 8 clients at 4 per second
    assert (target, streaming) == (8, 8)
    assert window_at - reached == pytest.approx(TIMING.warmup_s, abs=TIMING.poll_s)
    assert step.started_at == set_at and step.measure_from == window_at
    warm_up = [t for _, stage, t in seen if stage == WARMUP]
    assert warm_up and set(warm_up) == {8}  # the target is not touched while warming up


def test_a_target_not_reached_in_time_is_kept_and_measured_after_the_timeout(tmp_path: Path) -> None:
    clock = FakeClock()
    driver = SimulatedDriver(clock, capacity=10, connect_rate=4.0, max_connected=5)
    ramp, _ = _ramp(driver, clock, tmp_path)
    [step] = asyncio.run(ramp.run(ExplicitSearch([8])))
    (set_at, _, _), (window_at, _, streaming) = driver.calls
    give_up = set_at + 8 / TIMING.connect_rate + TIMING.ramp_timeout_s
    assert window_at - give_up == pytest.approx(TIMING.warmup_s, abs=TIMING.poll_s)
    assert streaming == 5 and driver.target == 8 and ramp.state.target == 8
    assert step.window is not None and step.window.active_clients is not None
    assert step.window.active_clients.max == 5 and step.passed


def test_soak_judges_consecutive_windows_until_the_duration_is_measured(tmp_path: Path) -> None:
    clock = FakeClock()
    driver = SimulatedDriver(clock, capacity=10, connect_rate=4.0)
    ramp, _ = _ramp(driver, clock, tmp_path)
    windows = asyncio.run(ramp.soak(clients=3, duration_s=70.0, window_s=30.0))
    assert [w.ended_at - w.measure_from for w in windows if w.ended_at and w.measure_from] == [
        pytest.approx(30.0),
        pytest.approx(30.0),
        pytest.approx(10.0),
    ]
    assert [w.index for w in windows] == [0, 1, 2] and all(w.passed for w in windows)
    assert [what for _, what, _ in driver.calls].count("set_target") == 1  # one target for the soak


class RepeatingDriver(SimulatedDriver):
    """A `SimulatedDriver` whose capacity changes each time a search starts again at 1 client: the noisy
    machine that `ramp --repeat` is for."""

    def __init__(self, clock: FakeClock, capacities: list[int]) -> None:
        super().__init__(clock, capacities[0], connect_rate=4.0)
        self.capacities = iter(capacities)

    async def set_target(self, clients: int, step: int | None = None) -> DriverStatus:
        if clients == 1:
            self.capacity = next(self.capacities)
        return await super().set_target(clients, step)


def test_repeat_runs_the_search_again_and_marks_each_step_with_its_run(tmp_path: Path) -> None:
    clock = FakeClock()
    driver = RepeatingDriver(clock, [4, 4, 5])
    ramp, _ = _ramp(driver, clock, tmp_path)
    searches: list[Search] = [AdaptiveSearch(start=1, factor=2.0, max_clients=64) for _ in range(3)]
    steps = asyncio.run(repeat_search(ramp, searches))
    assert [s.index for s in steps] == list(range(len(steps)))  # indexes go on across repetitions
    runs = [[(s.clients, s.passed) for s in steps if s.repeat == r] for r in range(3)]
    assert [outcome(run).capacity for run in runs] == [4, 4, 5]
    assert runs[0] == [(1, True), (2, True), (4, True), (8, False), (6, False), (5, False)]
    assert _written(tmp_path) == steps  # every repetition's steps are in steps.jsonl, with `repeat`
    report = build_report(RunInputs(str(tmp_path), {"kind": "ramp", "status": "complete"}, steps, [], []))
    assert report.verdict.headline == (
        "capacity 4 (median of 3 runs: 4, 4, 5; 2 of 3 runs at it; range 4\N{EN DASH}5)"
    )
    assert [run.capacity.max_clients for run in report.repeats] == [4, 4, 5]


def test_a_single_search_writes_no_repeat(tmp_path: Path) -> None:
    clock = FakeClock()
    ramp, _ = _ramp(SimulatedDriver(clock, capacity=3, connect_rate=4.0), clock, tmp_path)
    steps = asyncio.run(repeat_search(ramp, [ExplicitSearch([2, 4])]))
    assert [s.repeat for s in steps] == [None, None]
    assert all(
        "repeat" not in json.loads(line) for line in (tmp_path / "steps.jsonl").read_text().splitlines()
    )
