"""What a ramp shows on the terminal (rich): the live view while it runs, the verdict table at the end.

Builds renderables from values; `LiveView` is the one piece that owns a `rich.live.Live`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from loadgen.live.ramp import MEASURING, RampState, StepTiming, time_left

TABLE_WIDTH = 120  # the verdict table's width at least, also in logs and pipes


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f} %"


def _p(block: dict[str, Any] | None, key: str) -> float | None:
    return None if block is None else block[key]


def _criterion(step: dict[str, Any], name: str) -> float | None:
    for criterion in step["verdict"]["criteria"]:
        if criterion["name"] == name:
            return criterion["value"]
    return None


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown (adaptive search)"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def live_view(state: RampState, timing: StepTiming, now: float) -> Table:
    """The current step, its clients, the window so far, the steps judged, the time left."""
    table = Table(title="loadgen ramp", title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("value")
    step = state.step
    if step is not None:
        table.add_row("step", f"#{state.index} ({step.phase}): {step.clients} clients, {state.stage}")
    table.add_row("clients streaming / target", f"{state.active} / {state.target}")
    window = state.window if state.stage == MEASURING else None
    if window is not None:
        table.add_row("p95 transcript lag (window)", f"{_secs(_p(window['transcript_lag'], 'p95'))} s")
        table.add_row("WER (window)", _pct(window["wer"]))
        sessions = window["sessions"]
        table.add_row(
            "errors / refused (window)", f"{sessions['error'] + sessions['dropped']} / {sessions['refused']}"
        )
    if state.steps:
        last = state.steps[-1]
        table.add_row("last step", f"{last['clients']} clients: {verdict_text(last)}")
    step_left = max(0.0, state.stage_ends_at - now) if state.stage_ends_at else None
    table.add_row("this stage ends in", _duration(step_left))
    table.add_row("time left", _duration(time_left(state, timing, now)))
    return table


def verdict_text(step: dict[str, Any]) -> str:
    """PASS, or FAIL with the failing criteria named."""
    if step["verdict"]["passed"]:
        return "PASS"
    failing = [c["name"] for c in step["verdict"]["criteria"] if c["passed"] is False]
    return "FAIL: " + ", ".join(failing)


def verdict_table(steps: Sequence[dict[str, Any]]) -> Table:
    """One row per judged step, in the order they ran."""
    table = Table(title="Verdict per step", title_justify="left")
    for column in (
        "step",
        "phase",
        "clients",
        "p95 lag s",
        "WER",
        "conn ok",
        "errors",
        "refused",
        "slip p99 s",
        "verdict",
    ):
        table.add_column(column, justify="left" if column in ("phase", "verdict") else "right")
    for step in steps:
        window = step["window"]
        sessions = window["sessions"]
        style = "green" if step["verdict"]["passed"] else "red"
        table.add_row(
            str(step["index"]),
            step["phase"],
            str(step["clients"]),
            _secs(_p(window["transcript_lag"], "p95")),
            _pct(window["wer"]),
            _pct(_criterion(step, "connection_success")),
            str(sessions["error"] + sessions["dropped"]),
            str(sessions["refused"]),
            _secs(_p(window["send_slip"], "p99")),
            f"[{style}]{verdict_text(step)}[/]",
        )
    return table


def print_verdict_table(console: Console, steps: Sequence[dict[str, Any]]) -> None:
    """Print the verdict table, at least TABLE_WIDTH wide when the output is not a terminal (logs, CI)."""
    if not console.is_terminal:
        console.width = max(console.width, TABLE_WIDTH)
    console.print(verdict_table(steps))


def capacity_line(capacity: int | None, reason: str) -> str:
    """The answer, in one line."""
    return f"max concurrent connections: {capacity if capacity is not None else 'none'} ({reason})"


class LiveView:
    """A rich Live display refreshed by the ramp's listener calls; logs each judged step above it."""

    def __init__(self, console: Console, timing: StepTiming, live: bool = True) -> None:
        self.console = console
        self.timing = timing
        self._live = Live(console=console, refresh_per_second=2, transient=True) if live else None
        self._logged = 0

    def __enter__(self) -> Callable[[RampState], None]:
        if self._live is not None:
            self._live.__enter__()
        return self.update

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)

    def update(self, state: RampState) -> None:
        """Redraw; print a line for every step judged since the last call."""
        for step in state.steps[self._logged :]:
            lag = _secs(_p(step["window"]["transcript_lag"], "p95"))
            self.console.print(
                f"step {step['index']} ({step['phase']}) {step['clients']} clients: p95 lag {lag} s, "
                f"WER {_pct(step['window']['wer'])}: {verdict_text(step)}",
                highlight=False,
                soft_wrap=True,  # one line per step, whatever the width: the criteria stay on it
            )
        self._logged = len(state.steps)
        if self._live is not None:
            self._live.update(live_view(state, self.timing, time.time()))
