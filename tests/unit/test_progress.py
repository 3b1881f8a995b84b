"""The ramp's terminal views: time left, the live table, the verdict table naming failing criteria."""

import io
from dataclasses import replace

from rich.console import Console

from loadgen.cli.progress import LiveView, live_view, verdict_table
from loadgen.core.kpi import LatencyStats
from loadgen.core.records import StepRecord
from loadgen.core.search import EXPLICIT, Step
from loadgen.core.verdict import Thresholds, judge
from loadgen.core.window import Window
from loadgen.live.ramp import MEASURING, RAMPING, RampState, StepTiming, time_left


def _render(renderable) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def _step(index, clients, p95):
    window = Window(started_at=0.0, active=clients).snapshot(10.0)
    window = replace(window, transcript_lag=LatencyStats(10, p95, p95, p95, p95, p95))
    verdict = judge(window, Thresholds(), None)
    return StepRecord(index, clients, EXPLICIT, 0.0, 0.0, 10.0, window, verdict)


def test_time_left_adds_the_rest_of_this_step_and_every_planned_step():
    timing = StepTiming(warmup_s=5, hold_s=30, connect_rate=1)
    state = RampState(
        step=Step(2, EXPLICIT), index=0, stage=RAMPING, stage_ends_at=100.0, planned_steps=[2, 4]
    )
    # 1 s of ramp left + warm-up 5 + hold 30, then step 4: 2 clients to connect + 5 + 30
    assert time_left(state, timing, now=99.0) == 1 + 35 + 37
    adaptive = RampState(step=Step(2, "grow"), index=0, stage=MEASURING, stage_ends_at=100.0)
    assert time_left(adaptive, timing, now=90.0) == 10


def test_verdict_table_names_the_failing_criteria():
    text = _render(verdict_table([_step(0, 1, 0.2), _step(1, 2, 0.9)]))
    assert "PASS" in text and "FAIL: p95_transcript_lag" in text
    assert "0.90" in text


def test_live_view_shows_the_step_the_clients_and_the_window():
    state = RampState(
        step=Step(4, EXPLICIT), index=1, stage=MEASURING, stage_ends_at=20.0, target=4, active=3
    )
    state.window = _step(1, 4, 0.42).window
    state.steps = [_step(0, 2, 0.2)]
    text = _render(live_view(state, StepTiming(), now=10.0))
    assert "#1 (explicit): 4 clients, measuring" in text
    assert "3 / 4" in text and "0.42 s" in text and "2 clients: PASS" in text
    assert "-, 0 refused" in text  # no handshake in the window yet


def test_live_view_shows_the_steps_handshake_times_and_refusals():
    state = RampState(step=Step(4, EXPLICIT), index=0, stage=MEASURING, stage_ends_at=20.0)
    window = _step(0, 4, 0.42).window
    state.window = replace(window, handshake=LatencyStats(3, 0.1, 0.05, 0.2, 0.25, 0.25), refusals=2)
    text = _render(live_view(state, StepTiming(), now=10.0))
    assert "50 / 200 / 250 ms, 2 refused" in text


def test_the_step_line_keeps_its_failing_criteria_on_one_line_at_80_columns():
    step = _step(3, 64, 0.9)
    window = replace(step.window, wer=0.5)
    failing = replace(step, window=window, verdict=judge(window, Thresholds(), baseline_wer=0.1))
    out = io.StringIO()
    LiveView(Console(width=80, file=out), StepTiming(), live=False).update(RampState(steps=[failing]))
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and len(lines[0]) > 80
    assert lines[0].endswith("FAIL: p95_transcript_lag, wer")


def test_verdict_table_shows_each_run_and_goodput_beside_throughput():
    window = Window(started_at=0.0, active=2)
    for at in (1.0, 2.0, 3.0, 4.0):
        window.sample("transcript_lag", at, 0.2 if at < 4.0 else 0.9)  # 3 of 4 updates on time
    window.transcribed(1.0, "r", 16.0)
    snapshot = window.snapshot(10.0)
    steps = [replace(_step(i, 2, 0.2), window=snapshot, repeat=i) for i in (0, 1)]
    text = _render(verdict_table(steps))
    header = next(line for line in text.splitlines() if "clients" in line)
    assert header.index("run") < header.index("phase") and header.index("throughput") < header.index(
        "goodput"
    )
    assert [line.split("│")[2].strip() for line in text.splitlines() if "PASS" in line] == ["1", "2"]
    assert "1.60" in text and "1.20" in text  # throughput 16 s / 10 s; goodput 3/4 of it
    assert "run" not in _render(verdict_table([_step(0, 1, 0.2)])).splitlines()[2]
