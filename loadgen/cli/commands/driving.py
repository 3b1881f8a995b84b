"""What `loadgen serve`, `loadgen ramp` and `loadgen soak` share: their flag groups, the driver they run
against (an in-process pool or a `loadgen serve` through --control), the run directory and its manifest,
interruption, and the report at the end."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from loadgen.cli.commands.common import (
    add_generator_args,
    add_metrics_args,
    add_workers_arg,
    load_audio,
    pool_shape,
    positive_float,
    positive_int,
    resolve_url,
    serve_metrics,
    session_settings,
)
from loadgen.cli.commands.serve import command_serve
from loadgen.cli.preflight import check_reachable
from loadgen.cli.progress import LiveView, print_verdict_table
from loadgen.core.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, UsageError, UserError
from loadgen.core.records import DriverStatus, Shard, StepRecord
from loadgen.core.shards import StepClock
from loadgen.core.workload import Workload
from loadgen.data.corpus import Corpus
from loadgen.data.manifest import redacted_argv
from loadgen.data.profiles import DEFAULT_PROFILE, Profile, load_profiles, select_profile
from loadgen.data.run_dir import COMPLETE, INTERRUPTED, RUNNING, SESSIONS, STEPS, RunDir
from loadgen.live.control import ControlClient
from loadgen.live.ramp import Listener, Ramp, RateMode, StepHook, StepTiming
from loadgen.live.service import Driver, LoadService, WindowedMetrics
from loadgen.report import write_report
from loadgen.telemetry.event_loop import run as run_on_loop
from loadgen.telemetry.loop_monitor import LoopMonitor
from loadgen.workers.pool import WorkerPool, wait_ready
from loadgen.workers.spawn import LOCALHOST, WorkerMetrics, free_ports, start_workers, stop_workers

RETIRE_WAIT_S = 15.0  # at most, for retired sessions to close and be recorded at the end of a run
THRESHOLD_FLAGS = {
    "slo": "slo_p95_lag_s",
    "min_success": "min_connection_success",
    "max_error_ratio": "max_error_ratio",
    "max_refusals": "max_refusals",
    "wer_tolerance": "wer_tolerance",
    "max_send_slip": "max_send_slip_p99_s",
}


def add_verdict_args(parser: argparse.ArgumentParser) -> None:
    """--profile/--config and one flag per threshold (each overrides the profile)."""
    group = parser.add_argument_group("verdict (see docs/RAMP.md)")
    group.add_argument(
        "--profile", default=DEFAULT_PROFILE, help="threshold profile: default (SLO 0.5 s) or cpu (2.0 s)"
    )
    group.add_argument("--config", type=Path, help="a TOML file of more [profiles.NAME] tables")
    group.add_argument("--slo", type=positive_float, help="p95 transcript lag limit in seconds")
    group.add_argument("--min-success", type=float, help="connection success ratio at least (0..1)")
    group.add_argument("--max-error-ratio", type=float, help="error ratio at most (0..1)")
    group.add_argument("--max-refusals", type=int, help="refused sessions at most")
    group.add_argument("--wer-tolerance", type=float, help="WER above the baseline allowed (0..1)")
    group.add_argument("--max-send-slip", type=positive_float, help="send slip p99 at most (s)")
    group.add_argument(
        "--baseline-wer", type=float, help="the 1-client WER (default: the first step's measured WER)"
    )


def add_run_args(parser: argparse.ArgumentParser, kind: str) -> None:
    """--control, --run-dir, --prometheus-url, --replicas, --warmup, --ramp-timeout, metrics."""
    group = parser.add_argument_group("run")
    group.add_argument(
        "--control",
        metavar="URL",
        help="drive a running `loadgen serve` at this control URL (e.g. http://127.0.0.1:9095) instead of "
        "running the clients in this process",
    )
    add_workers_arg(group)
    group.add_argument("--run-dir", type=Path, help=f"where to write the run (default runs/{kind}-TIMESTAMP)")
    group.add_argument("--prometheus-url", help="Prometheus of the stack, for resources in the report")
    group.add_argument("--replicas", type=positive_int, help="replicas behind the balancer (for the report)")
    group.add_argument(
        "--warmup", type=float, default=10.0, help="seconds after the target is reached, not judged (10)"
    )
    group.add_argument(
        "--ramp-timeout",
        type=positive_float,
        default=60.0,
        help="seconds beyond the connect schedule to wait for every client to stream (default 60)",
    )
    group.add_argument("--no-live", action="store_true", help="no live view: one line per judged step")
    add_metrics_args(parser)


def add_driving_args(parser: argparse.ArgumentParser, kind: str, default_mode: str) -> None:
    """Every flag group of `loadgen ramp` and `loadgen soak` but their schedule."""
    add_generator_args(parser, default_mode, audio_required=False)
    add_verdict_args(parser)
    add_run_args(parser, kind)


def profile_from_args(args: argparse.Namespace) -> Profile:
    """The chosen profile with the threshold flags applied."""
    overrides = {key: getattr(args, flag) for flag, key in THRESHOLD_FLAGS.items()}
    return select_profile(load_profiles(args.config), args.profile, overrides)


@dataclass
class Drive:
    """One ramp or soak: what it runs against, where it writes, what it found."""

    args: argparse.Namespace
    kind: str
    schedule: dict[str, Any]
    timing: StepTiming
    profile: Profile
    run_dir: RunDir
    manifest: dict[str, Any] = field(default_factory=dict)
    ramp: Ramp | None = None
    interrupted: bool = False
    sharding: tuple[Shard, StepClock] | None = None
    merged_steps: list[StepRecord] | None = None  # a sharded run: every shard's steps, merged
    on_step: StepHook | None = None  # started with each step (fault injection)
    rates: RateMode | None = None  # rate mode: steps of arrival rate

    @property
    def steps(self) -> list[StepRecord]:
        """Every judged step (kept when interrupted); of all shards when they were merged."""
        if self.merged_steps is not None:
            return self.merged_steps
        return self.ramp.steps if self.ramp else []


def prepare(args: argparse.Namespace, kind: str, schedule: dict[str, Any], hold_s: float) -> Drive:
    """Validate the flags (nothing connects yet; the run directory is made once the target answers)."""
    if not args.control and args.audio_dir is None:
        raise UsageError("--audio-dir is required (unless --control drives a running `loadgen serve`)")
    if args.warmup < 0:
        raise UsageError(f"--warmup must be >= 0, got {args.warmup}")
    if args.control and args.workers > 1:
        raise UsageError("--workers runs the clients here: drop --control (or start K `loadgen serve`s)")
    timing = StepTiming(args.warmup, hold_s, args.ramp_timeout, args.connect_rate)
    profile = profile_from_args(args)
    path = args.run_dir or Path("runs") / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}"
    return Drive(args, kind, schedule, timing, profile, RunDir(path))


def execute(drive: Drive, console: Console, body: Callable[[Ramp], Awaitable[object]]) -> None:
    """Run `body` against the driver; run.json is written at the start and the end, whatever happens."""
    args = drive.args
    parts = None if args.control else _local_parts(args, console)
    try:
        with LiveView(console, drive.timing, live=not args.no_live) as listener:
            run_on_loop(_main(drive, parts, listener, body), args.event_loop)
    except (KeyboardInterrupt, asyncio.CancelledError):
        drive.interrupted = True
    finally:
        if drive.manifest:
            drive.manifest["status"] = INTERRUPTED if drive.interrupted else COMPLETE
            drive.manifest["ended_at"] = round(time.time(), 3)
            drive.run_dir.write_manifest(drive.manifest)


@dataclass(frozen=True)
class _LocalParts:
    url: str
    corpus: Corpus
    args: argparse.Namespace


def _local_parts(args: argparse.Namespace, console: Console) -> _LocalParts:
    url = resolve_url(args)
    session_settings(args, url)  # validates the stream flags before anything starts
    corpus = load_audio(args, console)
    check_reachable(url)
    return _LocalParts(url, corpus, args)


async def _main(
    drive: Drive,
    parts: _LocalParts | None,
    listener: Listener,
    body: Callable[[Ramp], Awaitable[object]],
) -> None:
    main = asyncio.current_task()
    assert main is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main.cancel)
    args = drive.args
    async with _driver(args, parts, drive.run_dir) as driver:
        status = await driver.status()
        drive.manifest = _manifest(drive, status)
        drive.run_dir.write_manifest(drive.manifest)
        steps_file = drive.run_dir.writer(STEPS)
        thresholds = drive.profile.thresholds
        drive.ramp = Ramp(
            driver,
            drive.timing,
            thresholds,
            steps_file,
            args.baseline_wer,
            listener,
            drive.sharding,
            drive.on_step,
            rates=drive.rates,
        )
        if drive.schedule.get("kind") == "steps":
            drive.ramp.state.planned_steps = list(drive.schedule["steps"])
        try:
            await body(drive.ramp)
        finally:
            steps_file.close()


def _driver(
    args: argparse.Namespace, parts: _LocalParts | None, run_dir: RunDir
) -> AbstractAsyncContextManager[Driver]:
    """The clients this run drives: a `loadgen serve` (--control), K workers (--workers), or in process."""
    if parts is None:
        return _control(args.control, run_dir)
    if args.workers > 1:
        return _workers(parts, run_dir)
    return _in_process(parts, run_dir)


@asynccontextmanager
async def _workers(parts: _LocalParts, run_dir: RunDir) -> AsyncIterator[Driver]:
    """K `loadgen serve` processes driven as one; this process serves their summed metrics."""
    args = parts.args
    ports = free_ports(args.workers)
    own = [
        {"control_host": LOCALHOST, "control_port": p, "clients": 0, "rate": None, "output_file": None}
        for p in ports
    ]  # idle until the ramp sets their target (or rate)
    workers = start_workers(command_serve, args, run_dir.create().path / "workers", own)
    try:
        serve_metrics(WorkerMetrics(workers), args)
        async with AsyncExitStack() as stack:
            clients = [
                await stack.enter_async_context(ControlClient(f"http://{LOCALHOST}:{port}")) for port in ports
            ]
            await wait_ready(workers, clients)
            pool = WorkerPool(clients)
            await pool.record_to(run_dir.path.resolve())
            try:
                yield pool
            finally:
                await pool.stop()
    finally:
        await asyncio.to_thread(stop_workers, workers)


@asynccontextmanager
async def _in_process(parts: _LocalParts, run_dir: RunDir) -> AsyncIterator[Driver]:
    args = parts.args
    metrics = WindowedMetrics()
    serve_metrics(metrics, args)
    sessions = run_dir.create().writer(SESSIONS)
    settings = session_settings(args, parts.url)
    try:
        async with LoadService(
            settings, parts.corpus, pool_shape(args), metrics, [sessions.write]
        ) as service:
            monitor = asyncio.create_task(LoopMonitor(metrics).run())  # loop lag, saturation flag
            try:
                yield service
            finally:
                monitor.cancel()
                await asyncio.gather(monitor, return_exceptions=True)
    finally:
        sessions.close()


@asynccontextmanager
async def _control(url: str, run_dir: RunDir) -> AsyncIterator[Driver]:
    async with ControlClient(url) as client:
        await client.status()  # unreachable: exit 4 before anything else
        run_dir.create()
        try:
            await client.record_to(run_dir.path.resolve())
        except UsageError as exc:
            print(f"warning: the generator cannot write this run's sessions.jsonl ({exc})", file=sys.stderr)
        try:
            yield client
        finally:
            await client.set_target(0)
            deadline = time.time() + RETIRE_WAIT_S
            while (await client.status()).retiring and time.time() < deadline:
                await asyncio.sleep(0.1)  # let the retired sessions be written before recording stops
            await client.record_to(None)


def _version() -> str | None:
    try:
        return metadata.version("whisperlive-capacity")
    except metadata.PackageNotFoundError:
        return None


def _manifest(drive: Drive, status: DriverStatus) -> dict[str, Any]:
    args = drive.args
    return {
        "kind": drive.kind,
        "status": RUNNING,
        "started_at": round(time.time(), 3),
        "ended_at": None,
        "url": status.url,
        "command": redacted_argv(sys.argv),
        "profile": drive.profile.to_json_dict(),
        "schedule": {**drive.schedule, **drive.timing.to_json_dict()},
        "corpus": asdict(status.corpus),
        "prometheus_url": args.prometheus_url,
        "replicas": args.replicas,
        "shard": drive.sharding[0].to_json_dict() if drive.sharding else {"index": 0, "count": 1},
        "workers": args.workers,
        "loadgen_version": _version(),
        "control": args.control,
        "mode": status.mode,
        "workload": Workload.from_flags(args).to_json_dict(),
    }


def finish(drive: Drive, console: Console, outcome: dict[str, Any], answer: str, passed: bool) -> int:
    """Print the verdict table and the answer, record the outcome in run.json, write the report; the
    exit code (0 passed, 1 not, 130 interrupted)."""
    print_verdict_table(console, drive.steps)
    console.print(Text(answer, style="" if passed else "red"), soft_wrap=True)
    if drive.manifest:
        drive.manifest["outcome"] = outcome
        drive.run_dir.write_manifest(drive.manifest)
    path = _report(drive, console) if drive.run_dir.shard in (None, 0) else None
    where = f"report: {path}" if path else f"run directory: {drive.run_dir.path}"
    console.print(where, highlight=False, soft_wrap=True)
    if drive.interrupted:
        console.print("interrupted: the steps judged so far are kept", highlight=False)
        return EXIT_INTERRUPTED
    return EXIT_OK if passed else EXIT_FAILED


def _report(drive: Drive, console: Console) -> Path | None:
    try:
        return write_report(drive.run_dir.path, drive.args.prometheus_url)
    except UserError as exc:
        console.print(f"[yellow]report not written[/]: {exc}", highlight=False)
        return None
