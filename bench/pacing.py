"""Benchmark: CPU per paced wait, the step every stream takes before each chunk (one core, uvloop).

The sender waits for a chunk's due time but must wake at once when the server ends the stream. Three
ways: `asyncio.timeout(delay)` around `Event.wait()` (the timeout fires and cancels: the session
today), `asyncio.sleep(delay)` (cannot be woken: the floor), and a future the receiver could resolve,
woken by `loop.call_at` at the due time (as cheap as sleep, and wakeable). 2,000 tasks wait 1 ms,
`--rounds` times each; prints CPU microseconds per wait.

    python -m bench.pacing [--tasks 2000] [--rounds 50] [--out runs/bench/pacing.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from pathlib import Path

import uvloop

DELAY_S = 0.001


async def with_timeout(done: asyncio.Event, rounds: int) -> None:
    """The session today: a Timeout context that fires and cancels the wait."""
    for _ in range(rounds):
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DELAY_S):
                await done.wait()


async def with_sleep(_done: asyncio.Event, rounds: int) -> None:
    """A plain sleep (no early wake-up)."""
    for _ in range(rounds):
        await asyncio.sleep(DELAY_S)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


async def with_future(_done: asyncio.Event, rounds: int) -> None:
    """A future resolved by a timer at the due time, or earlier by whoever ends the stream."""
    loop = asyncio.get_running_loop()
    for _ in range(rounds):
        waiter = loop.create_future()
        handle = loop.call_at(loop.time() + DELAY_S, _wake, waiter)
        await waiter
        handle.cancel()


STYLES = {"timeout+Event.wait": with_timeout, "sleep": with_sleep, "future+call_at": with_future}


async def cpu_per_wait(style: str, tasks: int, rounds: int) -> float:
    """CPU microseconds per wait of `tasks` concurrent waiters."""
    done = asyncio.Event()
    cpu = time.process_time()
    await asyncio.gather(*(STYLES[style](done, rounds) for _ in range(tasks)))
    return (time.process_time() - cpu) / (tasks * rounds) * 1e6


def main() -> int:
    """Each style in turn on this process's loop."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--out", type=Path, default=Path("runs/bench/pacing.json"))
    args = parser.parse_args()
    rows = {style: uvloop.run(cpu_per_wait(style, args.tasks, args.rounds)) for style in STYLES}
    for style, us in rows.items():
        print(f"{style:>20}: {us:5.1f} us CPU per wait", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                    "us_per_wait": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
