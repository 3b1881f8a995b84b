"""What a ramp shows on the terminal (rich): the live view while it runs, the verdict table at the end.

Builds renderables from values; `LiveView` is the one piece that owns a `rich.live.Live`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from rich.console import Console
from rich.live import Live
from rich.table import Table

from loadgen.core.goodput import goodput
from loadgen.core.kpi import LatencyStats
from loadgen.core.records import StepRecord, WindowSnapshot
from loadgen.core.session_result import DROPPED, ERROR, REFUSED
from loadgen.live.ramp import MEASURING, RampState, StepTiming, time_left

TABLE_WIDTH = 150  # the verdict table's width at least, also in logs and pipes


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f} %"


def _p95(block: LatencyStats | None) -> float | None:
    return None if block is None else block.p95


def _p99(block: LatencyStats | None) -> float | None:
    return None if block is None else block.p99


def _criterion(step: StepRecord, name: str) -> float | None:
    criterion = None if step.verdict is None else step.verdict.criterion(name)
    return None if criterion is None else criterion.value


def _errors(window: WindowSnapshot) -> int:
    return window.sessions.get(ERROR, 0) + window.sessions.get(DROPPED, 0)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown (adaptive search)"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def _handshakes(window: WindowSnapshot) -> str:
    """Connect to SERVER_READY since the step's start, in ms, and the handshakes refused."""
    h = window.handshake
    times = "-" if h is None else f"{h.p50 * 1000:.0f} / {h.p95 * 1000:.0f} / {h.max * 1000:.0f} ms"
    return f"{times}, {window.refusals or 0} refused"


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
        table.add_row("p95 transcript lag (window)", f"{_secs(_p95(window.transcript_lag))} s")
        table.add_row("WER (window)", _pct(window.wer))
        table.add_row("errors / refused (window)", f"{_errors(window)} / {window.sessions.get(REFUSED, 0)}")
        table.add_row("handshakes (step): p50 / p95 / max, refused", _handshakes(window))
    if state.steps:
        last = state.steps[-1]
        table.add_row("last step", f"{load_text(last)}: {verdict_text(last)}")
    step_left = max(0.0, state.stage_ends_at - now) if state.stage_ends_at else None
    table.add_row("this stage ends in", _duration(step_left))
    table.add_row("time left", _duration(time_left(state, timing, now)))
    return table


def load_text(step: StepRecord) -> str:
    """What a step ran: "4 clients", or in rate mode "0.2/s (3.1 streams, 2 dropped)"."""
    if step.rate is None:
        return f"{step.clients} clients"
    window = step.window
    active = None if window is None else window.active_clients
    dropped = None if window is None else window.arrivals_dropped
    said = ([] if active is None else [f"{active.avg:.1f} streams"]) + (
        [] if dropped is None else [f"{dropped} dropped"]
    )
    return f"{step.rate:g}/s" + (f" ({', '.join(said)})" if said else "")


def verdict_text(step: StepRecord) -> str:
    """PASS, or FAIL with the failing criteria named."""
    return "not judged" if step.verdict is None else step.verdict.headline


def _streams(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _goodput(step: StepRecord) -> float | None:
    lag = None if step.verdict is None else step.verdict.criterion("p95_transcript_lag")
    return None if step.window is None or lag is None else goodput(step.window, lag.limit)


def verdict_table(steps: Sequence[StepRecord]) -> Table:
    """One row per judged step, in the order they ran (with the run of each, for `ramp --repeat`)."""
    table = Table(title="Verdict per step", title_justify="left")
    repeated = any(step.repeat is not None for step in steps)
    rated = any(step.rate is not None for step in steps)
    for column in (
        "step",
        *(("run",) if repeated else ()),
        "phase",
        "rate (streams)" if rated else "clients",
        "p95 lag s",
        "WER",
        "conn ok",
        "errors",
        "refused",
        "slip p99 s",
        "throughput",
        "goodput",
        "verdict",
    ):
        table.add_column(column, justify="left" if column in ("phase", "verdict") else "right")
    for step in steps:
        window = step.window
        style = "green" if step.passed else "red"
        run = (str(step.repeat + 1) if step.repeat is not None else "-",) if repeated else ()
        table.add_row(
            str(step.index),
            *run,
            step.phase,
            load_text(step).removesuffix(" clients"),
            _secs(None if window is None else _p95(window.transcript_lag)),
            _pct(None if window is None else window.wer),
            _pct(_criterion(step, "connection_success")),
            "-" if window is None else str(_errors(window)),
            "-" if window is None else str(window.sessions.get(REFUSED, 0)),
            _secs(None if window is None else _p99(window.send_slip)),
            _streams(None if window is None else window.throughput),
            _streams(_goodput(step)),
            f"[{style}]{verdict_text(step)}[/]",
        )
    return table


def print_verdict_table(console: Console, steps: Sequence[StepRecord]) -> None:
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
            window = step.window
            lag = _secs(None if window is None else _p95(window.transcript_lag))
            speech = window.speech_ratio if window is not None else None
            self.console.print(
                f"step {step.index} ({step.phase}) {load_text(step)}: p95 lag {lag} s, "
                f"WER {_pct(None if window is None else window.wer)}"
                f"{'' if speech is None else f', speech {_pct(speech)}'}: {verdict_text(step)}",
                highlight=False,
                soft_wrap=True,  # one line per step, whatever the width: the criteria stay on it
            )
        self._logged = len(state.steps)
        if self._live is not None:
            self._live.update(live_view(state, self.timing, time.time()))
