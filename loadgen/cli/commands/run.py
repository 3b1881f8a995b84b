"""`loadgen run`: N concurrent clients for one pass or a duration; results, summary, KPI tables."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import signal
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from loadgen.cli.commands.common import (
    add_arrival_args,
    add_audio_args,
    add_metrics_args,
    add_resilience_args,
    add_seed_arg,
    add_session_length_arg,
    add_stream_args,
    add_target_args,
    add_traffic_args,
    add_workers_arg,
    idle_clients,
    load_audio,
    positive_float,
    positive_int,
    resolve_url,
    serve_metrics,
    session_settings,
    speech_activity,
)
from loadgen.cli.console import summary_view
from loadgen.cli.preflight import check_reachable
from loadgen.core.arrivals import (
    CLOSED,
    FIXED,
    Arrival,
    OpenFigures,
    SessionLength,
    open_arrivals,
    open_figures,
)
from loadgen.core.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, UsageError
from loadgen.core.session_result import SUCCESSES, RunRecord
from loadgen.core.summary import summarize
from loadgen.core.trace import scaled
from loadgen.data.corpus import Corpus
from loadgen.data.manifest import run_dir_manifest, run_manifest
from loadgen.data.results_file import JsonlWriter, write_json
from loadgen.data.run_dir import COMPLETE, INTERRUPTED, RUNNING, SESSIONS, RunDir
from loadgen.data.traces import read_trace
from loadgen.live.arrivals import OpenRunner, file_index
from loadgen.live.runner import CONTINUOUS, PER_FILE, LoadRunner, LoadShape, SessionLauncher
from loadgen.telemetry.event_loop import add_event_loop_arg
from loadgen.telemetry.event_loop import run as run_on_loop
from loadgen.telemetry.loop_monitor import SATURATION_THRESHOLD_S, LoopMonitor, SaturationRecord, monitored
from loadgen.telemetry.metrics import LoadgenMetrics
from loadgen.workers.run_parts import RunParts
from loadgen.workers.spawn import (
    WorkerMetrics,
    failed_workers,
    join_workers,
    start_workers,
    stop_workers,
    terminate_as_interrupt,
)

OPEN_SESSION_LENGTH = SessionLength(FIXED, 60.0)  # --arrival without --session-length


def register(commands: argparse._SubParsersAction) -> None:
    """Add the `run` parser."""
    run = commands.add_parser("run", help="stream real-time audio from N concurrent clients")
    add_target_args(run)
    load = run.add_argument_group("load")
    load.add_argument("--num-clients", type=positive_int, default=1, help="concurrent clients (default 1)")
    load.add_argument(
        "--duration", type=positive_float, help="seconds to keep starting sessions (default: one pass)"
    )
    load.add_argument(
        "--mode",
        choices=(PER_FILE, CONTINUOUS),
        default=PER_FILE,
        help="one session per file, or files back to back in one long session",
    )
    load.add_argument(
        "--connect-rate", type=positive_float, default=5.0, help="new clients per second (default 5)"
    )
    load.add_argument(
        "--gap", type=float, default=1.0, help="seconds of silence between files in continuous mode"
    )
    add_traffic_args(load)
    add_session_length_arg(
        load,
        "continuous mode: sessions of these lengths back to back; --arrival: each session's length",
        None,
    )
    add_arrival_args(load)
    load.add_argument(
        "--trace",
        dest="trace",
        type=Path,
        metavar="FILE",
        help="replay the sessions of a trace (CSV or JSONL of start_s,length_s,profile,file; docs/TRACES.md)",
    )
    load.add_argument(
        "--time-scale",
        dest="time_scale",
        type=positive_float,
        default=1.0,
        metavar="X",
        help="--trace: replay X times faster: start offsets divided by X, lengths in real time (default 1)",
    )
    add_seed_arg(load)
    add_event_loop_arg(load)
    add_workers_arg(load)
    add_audio_args(run)
    add_stream_args(run)
    add_resilience_args(run)
    out = run.add_argument_group("output")
    out.add_argument(
        "--output-file",
        type=Path,
        default=Path("results/sessions.jsonl"),
        help="one JSON line per session (default results/sessions.jsonl)",
    )
    out.add_argument("--summary-file", type=Path, help="summary JSON (default: next to --output-file)")
    out.add_argument(
        "--run-dir",
        type=Path,
        help="write a run directory instead (docs/RUN_DIR.md: run.json, sessions.jsonl; chaos appends to its "
        "events.jsonl) for `loadgen report DIR`",
    )
    add_metrics_args(run)
    run.set_defaults(handler=command_run)


def command_run(args: argparse.Namespace, console: Console) -> int:
    """Stream, measure, write results and summary, print the KPI tables."""
    url = resolve_url(args)
    settings = session_settings(args, url)
    speech, idle = speech_activity(args), idle_clients(args)  # their usage errors before anything loads
    corpus = load_audio(args, console)
    plan = open_plan(args, corpus)
    check_reachable(url)
    if plan is not None:
        return _run_open(args, console, corpus, url, plan)
    if args.workers > 1:
        return _run_in_workers(args, console, corpus, url)
    shape = LoadShape(
        args.num_clients,
        args.duration,
        args.mode,
        args.connect_rate,
        args.gap,
        speech,
        idle,
        args.session_length,
        args.seed,
    )
    out = _Outputs.open(args, corpus, url)
    runner = LoadRunner(settings, corpus, shape, out.metrics, [out.writer.write])
    console.print(f"streaming to {url}: {shape.num_clients} clients, mode {shape.mode}", highlight=False)
    interrupted, saturation = out.drive(args, runner.run)
    _warn_if_saturated(console, saturation)
    return _conclude(args, console, runner.record, corpus, url, interrupted, saturation)


@dataclass(frozen=True)
class _Outputs:
    """An in-process run's metrics, sessions file and run directory (with its manifest)."""

    metrics: LoadgenMetrics
    writer: JsonlWriter
    run_dir: RunDir | None
    manifest: dict[str, Any]

    @classmethod
    def open(cls, args: argparse.Namespace, corpus: Corpus, url: str) -> _Outputs:
        """Serve the metrics, create the run directory and its manifest, open the sessions file."""
        metrics = LoadgenMetrics()
        serve_metrics(metrics, args)
        run_dir = RunDir(args.run_dir).create() if args.run_dir else None
        manifest = run_dir_manifest(args, corpus, url, RUNNING)
        if run_dir:
            args.output_file = run_dir.file(SESSIONS)
            run_dir.write_manifest(manifest)
        return cls(metrics, JsonlWriter(args.output_file), run_dir, manifest)

    def drive(
        self, args: argparse.Namespace, run: Callable[[], Awaitable[RunRecord]]
    ) -> tuple[bool, SaturationRecord]:
        """Run until done, Ctrl-C or SIGTERM; close the outputs; (interrupted, loop saturation)."""
        monitor = LoopMonitor(self.metrics)
        interrupted = False
        try:
            run_on_loop(monitored(_until_terminated(run), monitor), args.event_loop)
        except (KeyboardInterrupt, asyncio.CancelledError):
            interrupted = True
        finally:
            self.writer.close()
            if self.run_dir:
                status = INTERRUPTED if interrupted else COMPLETE
                self.manifest.update(status=status, ended_at=round(time.time(), 3))
                self.run_dir.write_manifest(self.manifest)
        return interrupted, monitor.record


def _run_in_workers(args: argparse.Namespace, console: Console, corpus: Corpus, url: str) -> int:
    """`--workers K`: K `loadgen run` processes split the clients; their sessions merge into this run's."""
    if args.num_clients < args.workers:
        raise UsageError(f"--workers {args.workers} needs --num-clients {args.workers} or more (one each)")
    run_dir = RunDir(args.run_dir).create() if args.run_dir else None
    manifest = run_dir_manifest(args, corpus, url, RUNNING)
    if run_dir:
        args.output_file = run_dir.file(SESSIONS)
        run_dir.write_manifest(manifest)
    parts = RunParts(args.output_file, args.workers, run_dir is not None)
    record = RunRecord(time.time())
    workers = start_workers(command_run, args, parts.workdir, parts.worker_fields(args.num_clients))
    console.print(
        f"streaming to {url}: {args.num_clients} clients in {args.workers} worker processes, mode {args.mode}"
        f" (logs: {parts.workdir})",
        highlight=False,
        soft_wrap=True,
    )
    interrupted = False
    try:
        serve_metrics(WorkerMetrics(workers), args)
        with terminate_as_interrupt():
            join_workers(workers)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        stop_workers(workers)
        record.ended_at = time.time()
        record.results = parts.merge()
        if run_dir:
            manifest.update(status=INTERRUPTED if interrupted else COMPLETE, ended_at=round(time.time(), 3))
            run_dir.write_manifest(manifest)
    for line in failed_workers(workers, ok_codes=(EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED)):
        console.print(f"[red]{line}[/]", highlight=False, soft_wrap=True)
    record.peak_streams, saturation = parts.worker_summaries()
    _warn_if_saturated(console, saturation)
    return _conclude(args, console, record, corpus, url, interrupted, saturation)


def _warn_if_saturated(console: Console, record: SaturationRecord) -> None:
    if record.saturated_s:
        console.print(
            f"[bold red]generator saturated[/] for {record.saturated_s:.0f} s: send slip p99 reached "
            f"{record.worst_slip_p99_s * 1000:.0f} ms (threshold {SATURATION_THRESHOLD_S * 1000:.0f} ms); "
            "the lags include the generator's own delay: run fewer clients per process (--workers) or more "
            "generators",
            highlight=False,
        )


async def _until_terminated(run: Callable[[], Awaitable[RunRecord]]) -> RunRecord:
    """Run; SIGTERM stops it like Ctrl-C: sessions are cancelled, each still written."""
    main = asyncio.current_task()
    assert main is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main.cancel)
    return await run()


@dataclass(frozen=True)
class OpenPlan:
    """The sessions of an open run and what they offer: arrivals per second and mean length over a span."""

    arrivals: list[Arrival]
    rate: float
    mean_length_s: float
    span_s: float


def open_plan(args: argparse.Namespace, corpus: Corpus) -> OpenPlan | None:
    """The arrivals of `--arrival poisson|constant` or `--trace` (None: a closed run); usage errors first."""
    if args.trace is None and args.arrival == CLOSED:
        for flag, value in (("--rate", args.rate), ("--max-concurrency", args.max_concurrency)):
            if value is not None:
                raise UsageError(f"{flag} needs --arrival poisson or constant (or --trace)")
        return None
    if args.workers > 1:
        raise UsageError("--arrival and --trace run in one process: drop --workers")
    if idle_clients(args).count:
        raise UsageError("--idle-clients runs with closed clients in run; with --arrival use ramp or soak")
    if args.trace is not None:
        if args.arrival != CLOSED or args.rate is not None:
            raise UsageError("--trace brings its own arrivals: drop --arrival and --rate")
        arrivals = scaled(read_trace(args.trace), args.time_scale)
        for arrival in arrivals:
            if arrival.file is not None:
                file_index(corpus, arrival.file)
        mean_length = statistics.fmean(a.length_s for a in arrivals)
        last, n = arrivals[-1].start_s, len(arrivals)
        span = last * n / (n - 1) if n > 1 and last > 0 else mean_length  # all at 0: a burst
        return OpenPlan(arrivals, n / span, mean_length, span)
    if args.rate is None or args.duration is None:
        raise UsageError(f"--arrival {args.arrival} needs --rate R (sessions per second) and --duration D")
    length = args.session_length or OPEN_SESSION_LENGTH
    arrivals = open_arrivals(args.arrival, args.rate, args.duration, length, args.seed)
    return OpenPlan(arrivals, args.rate, length.mean_s, args.duration)


def _run_open(args: argparse.Namespace, console: Console, corpus: Corpus, url: str, plan: OpenPlan) -> int:
    """Start each planned session at its time; print offered vs achieved concurrency."""
    out = _Outputs.open(args, corpus, url)
    launcher = SessionLauncher(session_settings(args, url), out.metrics, [out.writer.write], args.gap)
    runner = OpenRunner(launcher, corpus, args.gap, args.max_concurrency, speech_activity(args))
    source = f"trace {args.trace} at {args.time_scale:g}x" if args.trace else f"{args.arrival} arrivals"
    console.print(
        f"streaming to {url}: {len(plan.arrivals)} sessions ({source}, {plan.rate:.3f}/s, mean "
        f"{plan.mean_length_s:.1f} s of audio)",
        highlight=False,
    )
    interrupted, saturation = out.drive(args, lambda: runner.run(plan.arrivals))
    record = runner.record
    t0 = record.started_at
    intervals = [(r.started_at - t0, r.ended_at - t0) for r in record.results if r.ended_at is not None]
    launches = runner.arrivals.launches
    figures = open_figures(
        plan.rate,
        plan.mean_length_s,
        plan.span_s,
        len(plan.arrivals),
        launches.late_s,
        launches.dropped,
        intervals,
    )
    console.print(open_line(figures), highlight=False, soft_wrap=True)
    _warn_if_saturated(console, saturation)
    return _conclude(args, console, record, corpus, url, interrupted, saturation, figures)


def open_line(f: OpenFigures) -> str:
    """Offered vs achieved concurrency, drops, the measured rate and how late sessions started."""
    return (
        f"offered concurrency {f.offered_concurrency:.2f} "
        f"(Little's law: {f.rate:.3f}/s x {f.mean_length_s:.1f} s); "
        f"achieved {f.achieved_concurrency:.2f} (time-weighted, {f.window_s[0]:.0f}-{f.window_s[1]:.0f} s); "
        f"{f.launched}/{f.scheduled} sessions started, {f.dropped} dropped at --max-concurrency; measured "
        f"{f.measured_rate:.3f}/s, gap CV {f.gap_cv:.2f}; start late p50 {f.start_late_p50_s * 1000:.1f} ms, "
        f"max {f.start_late_max_s * 1000:.1f} ms"
    )


def _conclude(
    args: argparse.Namespace,
    console: Console,
    record: RunRecord,
    corpus: Corpus,
    url: str,
    interrupted: bool,
    saturation: SaturationRecord,
    figures: OpenFigures | None = None,
) -> int:
    summary = summarize(record.results)
    summary_path = args.summary_file or args.output_file.with_suffix(".summary.json")
    write_json(
        summary_path,
        {
            "manifest": {
                **run_manifest(args, corpus, url, record, interrupted),
                "generator_saturation": dataclasses.asdict(saturation),
            },
            "summary": summary.to_json_dict(),
            **({"arrivals": dataclasses.asdict(figures)} if figures else {}),
        },
    )
    console.print(summary_view(summary, record.peak_streams))
    console.print(f"sessions: {args.output_file}   summary: {summary_path}", highlight=False, soft_wrap=True)
    if interrupted:
        return EXIT_INTERRUPTED
    all_ok = summary.sessions > 0 and sum(summary.outcomes[o] for o in SUCCESSES) == summary.sessions
    return EXIT_OK if all_ok else EXIT_FAILED
