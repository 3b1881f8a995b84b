"""`loadgen ramp`: step the client count up, judge each step, find max concurrent connections."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from loadgen.chaos.faults import ChaosSpec, event_appender, inject, open_target, parse_chaos
from loadgen.cli.commands.common import positive_float, positive_int
from loadgen.cli.commands.driving import (
    Drive,
    add_driving_args,
    execute,
    finish,
    prepare,
)
from loadgen.cli.progress import capacity_line
from loadgen.core.arrivals import CLOSED, rate_capacity
from loadgen.core.errors import UsageError
from loadgen.core.records import Shard, StepRecord
from loadgen.core.repeat import RepeatedCapacity
from loadgen.core.search import AdaptiveSearch, BracketSearch, ExplicitSearch, Outcome, Search, outcome
from loadgen.core.shards import StepClock, aligned_start, merge_steps, parse_shard, ramp_allowance
from loadgen.data.run_dir import EVENTS, STEPS, RunDir
from loadgen.live.ramp import RateMode, StepHook, first_failure_is_generator, repeat_search
from loadgen.live.runner import PER_FILE

START_LEAD_S = 5.0  # an aligned start is at least this far away: time to load the corpus and connect


def shard_spec(text: str) -> Shard:
    """argparse type: `INDEX/COUNT`."""
    try:
        return parse_shard(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def step_list(text: str) -> list[int]:
    """argparse type: `1,2,4,8` (client counts >= 1)."""
    try:
        steps = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected client counts like 1,2,4,8, got {text!r}") from exc
    if not steps or min(steps) < 1:
        raise argparse.ArgumentTypeError(f"every step needs at least 1 client, got {text!r}")
    return steps


def bracket_spec(text: str) -> tuple[int, int]:
    """argparse type: `LO,HI` (1 <= LO < HI)."""
    parts = text.split(",")
    if len(parts) == 2 and all(p.strip().isdigit() for p in parts):
        low, high = int(parts[0]), int(parts[1])
        if 1 <= low < high:
            return low, high
    raise argparse.ArgumentTypeError(f"expected LO,HI with 1 <= LO < HI, like 6,11; got {text!r}")


def rate_list(text: str) -> list[float]:
    """argparse type: `0.05,0.1,0.2` (arrival rates > 0, sessions per second)."""
    try:
        rates = [float(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected rates like 0.05,0.1,0.2, got {text!r}") from exc
    if not rates or not min(rates) > 0:
        raise argparse.ArgumentTypeError(f"every rate must be > 0, got {text!r}")
    return rates


def register(commands: argparse._SubParsersAction) -> None:
    """Add the `ramp` parser."""
    ramp = commands.add_parser(
        "ramp", help="step the client count up and judge each step: max concurrent connections"
    )
    schedule = ramp.add_argument_group("schedule (explicit --steps, or the adaptive search)")
    schedule.add_argument("--steps", type=step_list, help="explicit client counts, e.g. 1,2,4,8")
    schedule.add_argument(
        "--keep-going", action="store_true", help="--steps: run every step, even after one failed"
    )
    schedule.add_argument("--start", type=positive_int, default=1, help="adaptive: first step (default 1)")
    schedule.add_argument("--factor", type=float, default=2.0, help="adaptive: growth factor (default 2)")
    schedule.add_argument(
        "--max-clients", type=positive_int, default=256, help="adaptive: never more clients (default 256)"
    )
    schedule.add_argument(
        "--resolution", type=positive_int, default=1, help="adaptive: bisect down to this many clients (1)"
    )
    schedule.add_argument(
        "--resolution-pct", type=positive_float, help="adaptive: or to this percent of the passing step"
    )
    schedule.add_argument(
        "--bracket",
        type=bracket_spec,
        metavar="LO,HI",
        help="start from a guess: LO should pass, HI fail; grow or shrink past a wrong guess, then bisect "
        "(a sweep's warm start; --factor, --max-clients and --resolution apply)",
    )
    schedule.add_argument(
        "--hold", type=positive_float, default=60.0, help="seconds measured per step, after warm-up (60)"
    )
    schedule.add_argument(
        "--repeat",
        type=positive_int,
        default=1,
        metavar="R",
        help="run the whole search R times; the answer is the median capacity with its range (1)",
    )
    rates = ramp.add_argument_group("rate mode (--arrival poisson|constant; docs/RAMP.md)")
    rates.add_argument(
        "--rate-step",
        dest="rate_step",
        type=positive_float,
        metavar="R",
        help="adaptive search over arrival rates: level k runs k x R sessions per second (--start, "
        "--factor, --max-clients and --resolution count levels)",
    )
    rates.add_argument(
        "--rates", dest="rates", type=rate_list, metavar="R1,R2,...", help="explicit arrival rates"
    )
    shards = ramp.add_argument_group("sharding (several generators, explicit --steps only; docs/RAMP.md)")
    shards.add_argument(
        "--shard",
        type=shard_spec,
        metavar="I/K",
        help="this generator is shard I of K: it runs its share of every step's clients",
    )
    shards.add_argument(
        "--align",
        type=positive_float,
        default=10.0,
        help="shards start step 0 at the next multiple of this many seconds of wall-clock time (10)",
    )
    shards.add_argument("--start-at", type=float, help="or at this unix time (overrides --align)")
    chaos = ramp.add_argument_group("fault injection (docs/RAMP.md)")
    chaos.add_argument(
        "--chaos",
        action="append",
        type=chaos_spec,
        default=[],
        metavar="SPEC",
        help="kill/pause/restart a replica T s into a step, e.g. kill-replica:2@20 or pause-replica@15:8 "
        "(repeatable)",
    )
    chaos.add_argument(
        "--chaos-step", type=int, default=0, help="the step (index from 0) the faults happen in (0)"
    )
    chaos.add_argument("--compose", action="store_true", help="faults on Compose containers (Docker SDK)")
    chaos.add_argument(
        "--stack-dir", type=Path, default=Path("runs/stack"), help="the local stack's run dir (runs/stack)"
    )
    add_driving_args(ramp, "ramp", PER_FILE)
    ramp.set_defaults(handler=command_ramp)


def rate_levels(args: argparse.Namespace) -> Callable[[int], float] | None:
    """Rate mode: the arrival rate of level k (None: closed clients); usage errors for mixed flags."""
    if args.arrival == CLOSED:
        if args.rate_step or args.rates or args.rate is not None:
            raise UsageError("--rate-step, --rates and --rate need --arrival poisson or constant")
        return None
    if args.rate is not None or args.steps or args.shard or args.repeat > 1:
        raise UsageError(
            "a rate-mode ramp steps the arrival rate: give --rate-step R (adaptive) or --rates R1,R2,... "
            "(not --rate, --steps, --shard or --repeat)"
        )
    if args.rates:
        rates = list(args.rates)
        return lambda level: rates[level - 1]
    if args.rate_step:
        step = args.rate_step
        return lambda level: round(level * step, 9)
    raise UsageError(f"--arrival {args.arrival} needs --rate-step R (adaptive) or --rates R1,R2,...")


def _search(args: argparse.Namespace) -> tuple[Search, dict]:
    if args.arrival != CLOSED and args.rates:
        if args.bracket:
            raise UsageError("--bracket starts the adaptive search from a guess: it cannot go with --rates")
        levels = list(range(1, len(args.rates) + 1))
        return ExplicitSearch(levels, args.keep_going), {"kind": "rates", "rates": args.rates}
    if args.shard and not args.steps:
        raise UsageError("--shard needs explicit --steps: an adaptive search needs every shard's verdict")
    if args.steps and args.bracket:
        raise UsageError("--bracket starts the adaptive search from a guess: it cannot go with --steps")
    if args.steps:
        keep_going = args.keep_going or args.shard is not None  # shards cannot stop on a partial verdict
        return ExplicitSearch(args.steps, keep_going), {"kind": "steps", "steps": args.steps}
    common = (args.factor, args.max_clients, args.resolution, args.resolution_pct)
    try:
        search: AdaptiveSearch | BracketSearch
        if args.bracket:
            search = BracketSearch(args.bracket[0], args.bracket[1], *common)
        else:
            search = AdaptiveSearch(args.start, *common)
    except ValueError as exc:
        raise UsageError(
            f"adaptive schedule: {exc} (--start, --bracket, --factor, --max-clients, --resolution)"
        ) from exc
    fields = ("factor", "max_clients", "resolution", "resolution_pct")
    first = (
        {"low": search.low, "high": search.high}
        if isinstance(search, BracketSearch)
        else {"start": search.start}
    )
    kind = "bracket" if args.bracket else "adaptive"
    schedule = {"kind": kind, **first, **{k: getattr(search, k) for k in fields}}
    return search, schedule | ({"rate_step": args.rate_step} if args.arrival != CLOSED else {})


def command_ramp(args: argparse.Namespace, console: Console) -> int:
    """Exit 0 when a capacity was found, 1 when not (with the reason), 130 when interrupted."""
    if args.repeat > 1 and args.shard:
        raise UsageError(
            "--repeat runs the search again in one generator: it cannot be combined with --shard"
        )
    rate_of = rate_levels(args)
    search, schedule = _search(args)
    if args.bracket and args.baseline_wer is None:
        print(
            "warning: --bracket without --baseline-wer: the WER baseline will come from the first step, "
            "a loaded one (give the 1-client WER with --baseline-wer)",
            file=sys.stderr,
        )
    searches = [search] + [_search(args)[0] for _ in range(args.repeat - 1)]
    if args.repeat > 1:
        schedule["repeat"] = args.repeat
    drive = prepare(args, "ramp", schedule, args.hold)
    if rate_of is not None:
        drive.rates = RateMode(rate_of, min(args.session_length.mean_s, args.ramp_timeout))
    if args.shard:
        _shard(drive, args.shard)
    if args.chaos:
        if args.steps and not 0 <= args.chaos_step < len(args.steps):
            last = len(args.steps) - 1
            raise UsageError(f"--chaos-step {args.chaos_step}: the schedule has steps 0..{last}")
        drive.on_step = _chaos_hook(args, drive.run_dir)
    execute(drive, console, lambda ramp: repeat_search(ramp, searches))
    if args.shard and args.shard.index == 0:
        drive.merged_steps = _merged(drive, args.shard, len(args.steps))
    if args.repeat > 1:
        return _finish_repeated(drive, console, args.repeat)
    if rate_of is not None:
        return _finish_rates(drive, console, rate_of)
    found = outcome([(s.clients, s.passed) for s in drive.steps if s.passed is not None])
    reason = found.reason + _generator_note(drive.steps)
    answer = capacity_line(found.capacity, reason)
    return finish(
        drive, console, {**dataclasses.asdict(found), "reason": reason}, answer, found.capacity is not None
    )


def _finish_rates(drive: Drive, console: Console, rate_of: Callable[[int], float]) -> int:
    """The capacity as an arrival rate and as the concurrency its step produced."""
    streams = {
        s.clients: s.window.active_clients.avg
        for s in drive.steps
        if s.passed and s.window is not None and s.window.active_clients is not None
    }
    answer = rate_capacity(
        [(s.clients, s.passed) for s in drive.steps if s.passed is not None], rate_of, streams
    )
    reason = answer.reason + _generator_note(drive.steps)
    line = f"max arrival rate: {'none' if answer.rate is None else f'{answer.rate:g}/s'} ({reason})"
    return finish(
        drive, console, {**dataclasses.asdict(answer), "reason": reason}, line, answer.rate is not None
    )


def _generator_note(steps: list[StepRecord]) -> str:
    if not first_failure_is_generator(steps):
        return ""
    return "; the first failure is the load generator's own saturation: add generators, not a verdict"


def _finish_repeated(drive: Drive, console: Console, repeats: int) -> int:
    """The median capacity of the repetitions that ran, with its range and each run's outcome."""
    runs: list[Outcome] = []
    for repeat in range(repeats):
        steps = [s for s in drive.steps if s.repeat == repeat]
        if steps:
            runs.append(outcome([(s.clients, s.passed) for s in steps if s.passed is not None]))
    together = RepeatedCapacity(tuple(run.capacity for run in runs))
    headline = together.headline() + max(
        (_generator_note([s for s in drive.steps if s.repeat == r]) for r in range(len(runs))), default=""
    )
    answer = f"max concurrent connections: {headline}"
    found = {
        "capacity": together.median,
        "low": together.low,
        "high": together.high,
        "reason": headline,
        "repeats": [dataclasses.asdict(run) for run in runs],
    }
    return finish(drive, console, found, answer, together.median is not None)


def chaos_spec(text: str) -> ChaosSpec:
    """argparse type: a `--chaos` spec."""
    try:
        return parse_chaos(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _chaos_hook(args: argparse.Namespace, run_dir: RunDir) -> StepHook:
    """Inject every --chaos spec into step --chaos-step, logging to the run's events.jsonl."""
    target = open_target(args.compose, args.stack_dir)
    sink = event_appender(run_dir.file(EVENTS))

    async def hook(index: int) -> None:
        if index == args.chaos_step:
            await asyncio.gather(*(inject(spec, target, sink, index) for spec in args.chaos))

    return hook


def _shard(drive: Drive, shard: Shard) -> None:
    """Make the drive a shard's: its own JSONL files, its share of clients, the shared step clock."""
    args = drive.args
    t0 = args.start_at or aligned_start(time.time(), args.align, START_LEAD_S)
    allowance = ramp_allowance(args.steps, shard, args.connect_rate, args.ramp_timeout)
    drive.sharding = (shard, StepClock(t0, allowance, args.warmup, args.hold))
    drive.run_dir = RunDir(drive.run_dir.path, shard.index)
    drive.schedule = {**drive.schedule, "t0": t0, "ramp_allowance_s": allowance}


def _merged(drive: Drive, shard: Shard, steps: int) -> list[StepRecord]:
    """Every shard's steps merged, once each shard has judged every step (or a step period passed)."""
    assert drive.sharding is not None
    deadline = time.time() + drive.sharding[1].period_s
    records: list[dict] = []
    while time.time() < deadline:
        records, _ = RunDir(drive.run_dir.path).read_records(STEPS)
        if len(records) >= steps * shard.count:
            break
        time.sleep(0.5)
    return merge_steps([StepRecord.from_json(r) for r in records], drive.profile.thresholds)
