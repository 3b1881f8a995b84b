"""Which event loop runs the load generator: uvloop when installed (faster sends and timers), else asyncio.

`--event-loop asyncio` forces the standard loop (to compare, or to rule uvloop out); `--event-loop uvloop`
insists on it and fails with one clear line when it is missing. Before the loop starts, the garbage
collector is tuned for thousands of long-lived streams: everything loaded so far (modules, the corpus) is
frozen out of collections, and the young-generation threshold raised, because full collections over
every stream's objects stalled the loop for 50-150 ms at 1,500 streams (send slip p99 6-11 ms → 2 ms,
docs/PERFORMANCE.md).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
from collections.abc import Coroutine
from typing import Any, TypeVar

from loadgen.core.errors import UsageError

AUTO, UVLOOP, ASYNCIO = "auto", "uvloop", "asyncio"
GC_THRESHOLDS = (10_000, 50, 100)  # CPython's defaults: (700, 10, 10)
T = TypeVar("T")


def add_event_loop_arg(parser: argparse.ArgumentParser) -> None:
    """--event-loop auto|uvloop|asyncio."""
    parser.add_argument(
        "--event-loop",
        choices=(AUTO, UVLOOP, ASYNCIO),
        default=AUTO,
        help="event loop: uvloop when installed (auto, the default), or force one",
    )


def uvloop_installed() -> bool:
    """Whether the uvloop package can be imported."""
    return importlib.util.find_spec("uvloop") is not None


def chosen_loop(requested: str, installed: bool) -> str:
    """The loop a request resolves to (pure): auto picks uvloop when it is installed."""
    if requested == UVLOOP and not installed:
        raise UsageError("--event-loop uvloop: uvloop is not installed (pip install uvloop)")
    if requested == AUTO:
        return UVLOOP if installed else ASYNCIO
    return requested


def run(coro: Coroutine[Any, Any, T], requested: str = AUTO) -> T:
    """Run `coro` to completion on the chosen loop, like `asyncio.run`."""
    try:
        loop = chosen_loop(requested, uvloop_installed())
    except UsageError:
        coro.close()
        raise
    tune_gc()
    if loop == UVLOOP:
        import uvloop

        return uvloop.run(coro)
    return asyncio.run(coro)


def tune_gc() -> None:
    """Freeze what is alive now out of future collections and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
