"""Which event loop runs the load generator: uvloop when installed (faster sends and timers), else asyncio.

`--event-loop asyncio` forces the standard loop (to compare, or to rule uvloop out); `--event-loop uvloop`
insists on it and fails with one clear line when it is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
from collections.abc import Coroutine
from typing import Any, TypeVar

from loadgen.errors import UsageError

AUTO, UVLOOP, ASYNCIO = "auto", "uvloop", "asyncio"
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
    if loop == UVLOOP:
        import uvloop

        return uvloop.run(coro)
    return asyncio.run(coro)
