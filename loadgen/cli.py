"""`loadgen` command line: argument parsing and the edges (files, console, exit codes).

Exit codes: 0 every session ok; 1 the run finished but some sessions failed; 2 bad flag or value;
3 no usable audio; 4 server unreachable; 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

from rich.console import Console

from loadgen.console import summary_view
from loadgen.corpus import Corpus, load_corpus
from loadgen.errors import UsageError, UserError
from loadgen.manifest import run_manifest
from loadgen.metrics import LoadgenMetrics
from loadgen.preflight import check_reachable
from loadgen.prepare_audio import format_report, prepare_audio
from loadgen.protocol import StreamOptions
from loadgen.results_file import JsonlWriter, write_json
from loadgen.runner import CONTINUOUS, PER_FILE, LoadRunner, LoadShape, RunRecord
from loadgen.session import SessionSettings
from loadgen.session_result import OK
from loadgen.sim_model import LagModel
from loadgen.simulator import Simulator, run_simulator
from loadgen.summary import summarize

EXIT_OK, EXIT_SESSIONS_FAILED, EXIT_INTERRUPTED = 0, 1, 130


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line and exits 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The full `loadgen` argument parser."""
    parser = _Parser(prog="loadgen", description="Capacity testing for WhisperLive deployments.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_run(commands.add_parser("run", help="stream real-time audio from N concurrent clients"))
    prep = commands.add_parser("prepare-audio", help="validate and convert a corpus to 16 kHz mono PCM16")
    prep.add_argument("src", type=Path, help="source directory (wav+txt pairs, LJSpeech, or plain audio)")
    prep.add_argument("dst", type=Path, help="output directory (written as NAME.wav + NAME.txt pairs)")
    prep.add_argument("--no-reference", action="store_true", help="accept audio without transcripts")
    _add_simulate(
        commands.add_parser("simulate", help="a WhisperLive-protocol server with a known lag curve")
    )
    return parser


def _add_simulate(sim: argparse.ArgumentParser) -> None:
    sim.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    sim.add_argument("--port", type=int, default=9100, help="listen port (default 9100)")
    sim.add_argument("--audio-dir", type=Path, required=True, help="the corpus whose transcripts it returns")
    sim.add_argument("--capacity", type=_positive_int, default=4, help="streams served at the base lag")
    sim.add_argument("--base-lag", type=float, default=0.3, help="lag in seconds up to --capacity streams")
    sim.add_argument(
        "--per-stream-lag",
        type=float,
        default=0.5,
        help="extra lag in seconds per active stream beyond --capacity",
    )
    sim.add_argument("--max-clients", type=_positive_int, default=10_000, help="WAIT above this many streams")


def _add_run(run: argparse.ArgumentParser) -> None:
    target = run.add_argument_group("target")
    target.add_argument("--host", default="localhost", help="server or balancer host (default localhost)")
    target.add_argument("--port", type=int, default=9090, help="server or balancer port (default 9090)")
    target.add_argument("--url", help="full ws:// or wss:// URL; overrides --host/--port")
    load = run.add_argument_group("load")
    load.add_argument("--num-clients", type=_positive_int, default=1, help="concurrent clients (default 1)")
    load.add_argument(
        "--duration", type=_positive_float, help="seconds to keep starting sessions (default: one pass)"
    )
    load.add_argument(
        "--mode",
        choices=(PER_FILE, CONTINUOUS),
        default=PER_FILE,
        help="one session per file, or files back to back in one long session",
    )
    load.add_argument(
        "--connect-rate", type=_positive_float, default=5.0, help="new clients per second (default 5)"
    )
    load.add_argument(
        "--gap", type=float, default=1.0, help="seconds of silence between files in continuous mode"
    )
    audio = run.add_argument_group("audio")
    audio.add_argument("--audio-dir", type=Path, required=True, help="corpus directory")
    audio.add_argument("--no-reference", action="store_true", help="latency only: audio without transcripts")
    audio.add_argument("--limit", type=_positive_int, help="use only the first N files of the corpus")
    audio.add_argument(
        "--chunk-ms", type=_positive_int, default=256, help="audio per send in ms (default 256)"
    )
    stream = run.add_argument_group("stream options")
    stream.add_argument("--model", default="tiny.en", help="model name sent in the options (default tiny.en)")
    stream.add_argument("--language", default="en", help="language code sent in the options (default en)")
    stream.add_argument(
        "--use-vad",
        dest="use_vad",
        action="store_true",
        default=True,
        help="ask the server for voice activity detection (the default)",
    )
    stream.add_argument(
        "--no-vad", dest="use_vad", action="store_false", help="ask the server not to use VAD"
    )
    stream.add_argument(
        "--settle",
        type=_positive_float,
        default=3.0,
        help="end a stream after this many seconds without a transcript change (default 3)",
    )
    stream.add_argument(
        "--max-tail",
        type=_positive_float,
        default=20.0,
        help="at most this many seconds of trailing silence (default 20)",
    )
    stream.add_argument(
        "--ready-timeout",
        type=_positive_float,
        default=60.0,
        help="seconds to wait for SERVER_READY (default 60)",
    )
    out = run.add_argument_group("output")
    out.add_argument(
        "--output-file",
        type=Path,
        default=Path("results/sessions.jsonl"),
        help="one JSON line per session (default results/sessions.jsonl)",
    )
    out.add_argument("--summary-file", type=Path, help="summary JSON (default: next to --output-file)")
    out.add_argument(
        "--metrics-port",
        type=int,
        default=0,
        help="serve loadgen_* Prometheus metrics on this port while running (default off)",
    )
    out.add_argument(
        "--metrics-host", default="127.0.0.1", help="address for --metrics-port (default 127.0.0.1)"
    )


def resolve_url(args: argparse.Namespace) -> str:
    """The WebSocket URL from --url or --host/--port, validated."""
    url = args.url or f"ws://{args.host}:{args.port}"
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise UsageError(f"--url {url!r} is not a ws:// or wss:// URL with a host")
    try:
        _ = parts.port
    except ValueError as exc:
        raise UsageError(f"--url {url!r} has an invalid port") from exc
    return url


def _load(args: argparse.Namespace, console: Console) -> Corpus:
    no_reference, limit = getattr(args, "no_reference", False), getattr(args, "limit", None)
    corpus = load_corpus(args.audio_dir, require_reference=not no_reference, limit=limit)
    for problem in corpus.problems:
        console.print(f"[yellow]skipped[/] {problem.path}: {problem.reason}", highlight=False, soft_wrap=True)
    console.print(
        f"corpus {corpus.root} ({corpus.layout}): {len(corpus.utterances)} files, {corpus.duration_s:.1f} s",
        highlight=False,
    )
    return corpus


def command_run(args: argparse.Namespace, console: Console) -> int:
    """`loadgen run`: stream, measure, write results and summary, print the KPI tables."""
    url = resolve_url(args)
    if args.chunk_ms > 5000:
        raise UsageError(f"--chunk-ms {args.chunk_ms} is above 5000; live clients send 20-1000 ms chunks")
    corpus = _load(args, console)
    check_reachable(url)
    settings = SessionSettings(
        url=url,
        options=StreamOptions(uid="", model=args.model, language=args.language, use_vad=args.use_vad),
        chunk_s=args.chunk_ms / 1000,
        settle_s=args.settle,
        max_tail_s=args.max_tail,
        ready_timeout_s=args.ready_timeout,
    )
    shape = LoadShape(args.num_clients, args.duration, args.mode, args.connect_rate, args.gap)
    metrics = LoadgenMetrics()
    if args.metrics_port:
        _serve_metrics(metrics, args.metrics_host, args.metrics_port)
    writer = JsonlWriter(args.output_file)
    runner = LoadRunner(settings, corpus, shape, metrics, [writer.write])
    console.print(f"streaming to {url}: {shape.num_clients} clients, mode {shape.mode}", highlight=False)
    interrupted = False
    try:
        asyncio.run(runner.run())
    except KeyboardInterrupt:
        interrupted = True
    finally:
        writer.close()
    return _conclude(args, console, runner.record, corpus, url, interrupted)


def _serve_metrics(metrics: LoadgenMetrics, host: str, port: int) -> None:
    try:
        metrics.serve(port, host)
    except OSError as exc:
        raise UsageError(f"--metrics-port {port}: cannot listen on {host}:{port} ({exc.strerror})") from exc


def _conclude(
    args: argparse.Namespace, console: Console, record: RunRecord, corpus: Corpus, url: str, interrupted: bool
) -> int:
    summary = summarize(record.results)
    summary_path = args.summary_file or args.output_file.with_suffix(".summary.json")
    write_json(
        summary_path,
        {
            "manifest": run_manifest(args, corpus, url, record, interrupted),
            "summary": summary.to_json_dict(),
        },
    )
    console.print(summary_view(summary, record.peak_streams))
    console.print(f"sessions: {args.output_file}   summary: {summary_path}", highlight=False, soft_wrap=True)
    if interrupted:
        return EXIT_INTERRUPTED
    all_ok = summary.sessions > 0 and summary.outcomes[OK] == summary.sessions
    return EXIT_OK if all_ok else EXIT_SESSIONS_FAILED


def command_prepare_audio(args: argparse.Namespace, console: Console) -> int:
    """`loadgen prepare-audio`: exit 0 when at least one usable file was written."""
    report = prepare_audio(args.src, args.dst, require_reference=not args.no_reference)
    console.print(format_report(report), highlight=False, markup=False, soft_wrap=True)
    return 0 if report.written else 3


def command_simulate(args: argparse.Namespace, console: Console) -> int:
    """`loadgen simulate`: serve until SIGINT/SIGTERM."""
    corpus = _load(args, console)
    model = LagModel(base_s=args.base_lag, capacity=args.capacity, per_stream_s=args.per_stream_lag)
    simulator = Simulator(corpus, model, args.max_clients)
    console.print(
        f"simulator on ws://{args.host}:{args.port}: lag {model.base_s} s up to {model.capacity} streams, "
        f"+{model.per_stream_s} s per stream beyond",
        highlight=False,
    )
    try:
        asyncio.run(_simulate(simulator, args.host, args.port))
    except OSError as exc:
        raise UsageError(
            f"--port {args.port}: cannot listen on {args.host}:{args.port} ({exc.strerror})"
        ) from exc
    return EXIT_OK


async def _simulate(simulator: Simulator, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await run_simulator(simulator, host, port, stop)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `loadgen` command."""
    args = build_parser().parse_args(argv)
    console = Console()
    commands = {"run": command_run, "prepare-audio": command_prepare_audio, "simulate": command_simulate}
    try:
        return commands[args.command](args, console)
    except UserError as exc:
        print(f"loadgen {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
