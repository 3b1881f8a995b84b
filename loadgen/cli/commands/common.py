"""Flag groups and edge helpers shared by the `loadgen` subcommands."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, Protocol
from urllib.parse import urlsplit

from rich.console import Console

from loadgen.core.arrivals import ARRIVALS, CLOSED, SessionLength, parse_session_length
from loadgen.core.errors import EXIT_USAGE, UsageError
from loadgen.core.protocol import API_KEY_ENV, StreamOptions
from loadgen.core.reconnect import ReconnectPolicy
from loadgen.core.session_machine import IDLE_MODES, IDLE_SILENCE
from loadgen.core.speech import (
    DEFAULT_SEED,
    EXPONENTIAL,
    PAUSE_DISTS,
    SpeakingProfile,
    SpeechActivity,
    check_ratio,
    parse_profiles,
)
from loadgen.data.corpus import Corpus, load_corpus
from loadgen.data.speaking import load_speaking_profiles
from loadgen.live.pool import PoolShape
from loadgen.live.runner import CONTINUOUS, PER_FILE, IdleClients
from loadgen.live.session import SessionSettings
from loadgen.live.ws_client import CLIENTS, DEFAULT_CLIENT
from loadgen.telemetry.event_loop import add_event_loop_arg


class Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line and exits 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a float > 0."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


def session_length(text: str) -> SessionLength:
    """argparse type: `fixed:S`, `uniform:A,B`, `lognormal:MEAN,SD` or a plain number of seconds."""
    try:
        return parse_session_length(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def add_session_length_arg(group: argparse._ArgumentGroup, help_text: str, default: str | None) -> None:
    """--session-length: a distribution of seconds of audio per session (docs/TRACES.md)."""
    group.add_argument(
        "--session-length",
        dest="session_length",
        type=session_length,
        default=None if default is None else parse_session_length(default),
        metavar="DIST",
        help=f"{help_text}: fixed:S, uniform:A,B or lognormal:MEAN,SD seconds (a plain number is fixed)"
        + (f" (default {default})" if default else ""),
    )


def add_arrival_args(group: argparse._ArgumentGroup) -> None:
    """--arrival/--rate/--max-concurrency: open-model arrivals (docs/TRACES.md)."""
    group.add_argument(
        "--arrival",
        dest="arrival",
        choices=ARRIVALS,
        default=CLOSED,
        help="closed: a fixed number of clients (default); poisson or constant: sessions start at --rate per "
        "second whatever the server does (an open model)",
    )
    group.add_argument(
        "--rate", dest="rate", type=positive_float, metavar="R", help="open model: sessions per second"
    )
    group.add_argument(
        "--max-concurrency",
        dest="max_concurrency",
        type=positive_int,
        metavar="N",
        help="open model: an arrival that finds N sessions in flight is dropped and counted (default none)",
    )


def add_seed_arg(group: argparse._ArgumentGroup) -> None:
    """--seed: of every random draw of the workload (pauses, profiles, arrival times, session lengths)."""
    group.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help=f"seed of the pauses, profiles, arrival times and session lengths (default {DEFAULT_SEED})",
    )


def percentage(high: float, include_high: bool) -> Callable[[str], float]:
    """argparse type: a percentage from 0 to `high` (`high` itself allowed when `include_high`)."""
    bounds = f"[0, {high:g}{']' if include_high else ')'}"

    def parse(text: str) -> float:
        value = float(text)
        if not (0 <= value <= high if include_high else 0 <= value < high):
            raise argparse.ArgumentTypeError(f"must be a percentage in {bounds}, got {text}")
        return value

    return parse


def add_target_args(parser: argparse.ArgumentParser) -> None:
    """--host/--port/--url: where the sessions connect."""
    target = parser.add_argument_group("target")
    target.add_argument("--host", default="localhost", help="server or balancer host (default localhost)")
    target.add_argument("--port", type=int, default=9090, help="server or balancer port (default 9090)")
    target.add_argument("--url", help="full ws:// or wss:// URL; overrides --host/--port")


def add_audio_args(parser: argparse.ArgumentParser, required: bool = True) -> None:
    """The corpus and how it is cut into chunks."""
    audio = parser.add_argument_group("audio")
    audio.add_argument("--audio-dir", type=Path, required=required, help="corpus directory")
    audio.add_argument("--no-reference", action="store_true", help="latency only: audio without transcripts")
    audio.add_argument("--limit", type=positive_int, help="use only the first N files of the corpus")
    audio.add_argument(
        "--chunk-ms", type=positive_int, default=256, help="audio per send in ms (default 256)"
    )


def add_stream_args(parser: argparse.ArgumentParser) -> None:
    """The options each session sends and how it ends."""
    stream = parser.add_argument_group("stream options")
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
        type=positive_float,
        default=3.0,
        help="end a stream after this many seconds without a transcript change (default 3)",
    )
    stream.add_argument(
        "--max-tail",
        type=positive_float,
        default=20.0,
        help="at most this many seconds of trailing silence (default 20)",
    )
    stream.add_argument(
        "--ready-timeout",
        type=positive_float,
        default=60.0,
        help="seconds to wait for SERVER_READY (default 60)",
    )
    stream.add_argument(
        "--ws-client",
        choices=CLIENTS,
        default=DEFAULT_CLIENT,
        help=f"WebSocket client library under every session (default {DEFAULT_CLIENT}: the faster one, "
        "docs/PERFORMANCE.md)",
    )


def add_resilience_args(parser: argparse.ArgumentParser) -> None:
    """--reconnect/--max-reconnects/--stall-timeout/--api-key: surviving drops, hangs and auth."""
    group = parser.add_argument_group("resilience")
    group.add_argument(
        "--reconnect",
        action="store_true",
        help="reconnect a session that drops mid-stream (first retry at once, then exponential backoff); "
        "the audio of the gap is lost, as in a live meeting",
    )
    group.add_argument(
        "--max-reconnects",
        type=positive_int,
        default=5,
        help="reconnect attempts per session at most (default 5)",
    )
    group.add_argument(
        "--stall-timeout",
        type=positive_float,
        default=30.0,
        help="a server that sends no transcript for this many seconds while speech flows has stalled "
        "(default 30)",
    )
    group.add_argument(
        "--api-key",
        default=os.environ.get(API_KEY_ENV) or None,
        metavar="KEY",
        help=f"WhisperLive API key, sent as 'Authorization: Bearer KEY' (default: ${API_KEY_ENV}, "
        "which keeps it out of ps)",
    )


def add_workers_arg(group: argparse._ArgumentGroup) -> None:
    """--workers K: K processes split the clients (one core each; docs/PERFORMANCE.md)."""
    group.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        metavar="K",
        help="run the clients in K processes (one core each) that split them; one set of metrics and "
        "results (default 1)",
    )


def add_metrics_args(parser: argparse.ArgumentParser, default_port: int = 0) -> None:
    """--metrics-port/--metrics-host: where `loadgen_*` metrics are served."""
    out = parser.add_argument_group("metrics")
    out.add_argument(
        "--metrics-port",
        type=int,
        default=default_port,
        help=f"serve loadgen_* Prometheus metrics on this port (default {default_port or 'off'})",
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


def session_settings(args: argparse.Namespace, url: str) -> SessionSettings:
    """SessionSettings from the stream and audio flags."""
    if args.chunk_ms > 5000:
        raise UsageError(f"--chunk-ms {args.chunk_ms} is above 5000; live clients send 20-1000 ms chunks")
    return SessionSettings(
        url=url,
        options=StreamOptions(uid="", model=args.model, language=args.language, use_vad=args.use_vad),
        chunk_s=args.chunk_ms / 1000,
        settle_s=args.settle,
        max_tail_s=args.max_tail,
        ready_timeout_s=args.ready_timeout,
        api_key=getattr(args, "api_key", None),
        reconnect=ReconnectPolicy(args.max_reconnects) if getattr(args, "reconnect", False) else None,
        stall_timeout_s=getattr(args, "stall_timeout", SessionSettings.stall_timeout_s),
        ws_client=getattr(args, "ws_client", DEFAULT_CLIENT),
    )


def load_audio(args: argparse.Namespace, console: Console) -> Corpus:
    """Load --audio-dir, printing each skipped file and the corpus size."""
    no_reference, limit = getattr(args, "no_reference", False), getattr(args, "limit", None)
    corpus = load_corpus(args.audio_dir, require_reference=not no_reference, limit=limit)
    for problem in corpus.problems:
        console.print(f"[yellow]skipped[/] {problem.path}: {problem.reason}", highlight=False, soft_wrap=True)
    console.print(
        f"corpus {corpus.root} ({corpus.layout}): {len(corpus.utterances)} files, {corpus.duration_s:.1f} s",
        highlight=False,
    )
    return corpus


class ServesMetrics(Protocol):
    """Anything with a `/metrics` to serve: LoadgenMetrics, or the workers' sum."""

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Expose `/metrics` on host:port."""


def serve_metrics(metrics: ServesMetrics, args: argparse.Namespace) -> None:
    """Serve `/metrics` when --metrics-port is set; a taken port is a usage error."""
    host, port = args.metrics_host, args.metrics_port
    if not port:
        return
    try:
        metrics.serve(port, host)
    except OSError as exc:
        raise UsageError(f"--metrics-port {port}: cannot listen on {host}:{port} ({exc.strerror})") from exc


def add_pool_args(parser: argparse.ArgumentParser, default_mode: str) -> None:
    """--mode/--connect-rate/--session-length/--gap: how the pool's clients stream."""
    load = parser.add_argument_group("load")
    load.add_argument(
        "--mode",
        choices=(PER_FILE, CONTINUOUS),
        default=default_mode,
        help=f"one session per file, or continuous sessions of --session-length (default {default_mode})",
    )
    load.add_argument(
        "--connect-rate", type=positive_float, default=5.0, help="new clients per second at most (default 5)"
    )
    add_session_length_arg(load, "continuous mode: audio per session before the client reconnects", "300")
    load.add_argument("--gap", type=float, default=1.0, help="continuous mode: silence between files (s)")
    add_traffic_args(load)
    add_seed_arg(load)
    add_arrival_args(load)
    add_event_loop_arg(parser)


def add_traffic_args(group: argparse._ArgumentGroup) -> None:
    """--speech-ratio/--pause-dist/--profiles and --idle-clients/--idle-mode (docs/WORKLOADS.md)."""
    group.add_argument(
        "--speech-ratio",
        type=float,
        metavar="F",
        help="continuous mode: talk spurts (corpus utterances) alternate with pauses drawn so that about F "
        "(0 < F <= 1) of each session's audio is speech; replaces --gap (docs/WORKLOADS.md)",
    )
    group.add_argument(
        "--pause-dist",
        choices=PAUSE_DISTS,
        default=EXPONENTIAL,
        help=f"distribution of the pause lengths (default {EXPONENTIAL})",
    )
    group.add_argument(
        "--profiles",
        metavar="SPEC",
        help="a mix of speaking profiles instead of one --speech-ratio: NAME:SHARE@RATIO,... (e.g. "
        "listener:70%%@0.2,talker:30%%@0.6), or @FILE / a .toml file of [[profile]] tables",
    )
    group.add_argument(
        "--idle-clients",
        type=int,
        default=0,
        metavar="N",
        help="N extra connections that complete the handshake, then stream only silence (or nothing) for the "
        "whole run; recorded with idle: true, never in WER or the client count (default 0)",
    )
    group.add_argument(
        "--idle-mode",
        choices=IDLE_MODES,
        default=IDLE_SILENCE,
        help="what idle clients send after SERVER_READY: real-time silence or nothing "
        f"(default {IDLE_SILENCE})",
    )


def add_generator_args(parser: argparse.ArgumentParser, default_mode: str, audio_required: bool) -> None:
    """Everything an in-process client pool needs: target, audio, stream options, resilience, load."""
    add_target_args(parser)
    add_audio_args(parser, required=audio_required)
    add_stream_args(parser)
    add_resilience_args(parser)
    add_pool_args(parser, default_mode)


def pool_shape(args: argparse.Namespace) -> PoolShape:
    """PoolShape from the load flags."""
    return PoolShape(
        args.mode,
        args.connect_rate,
        args.session_length,
        args.gap,
        speech=speech_activity(args),
        idle=idle_clients(args),
        seed=args.seed,
        arrival=args.arrival,
        max_concurrency=args.max_concurrency,
    )


def speech_activity(args: argparse.Namespace) -> SpeechActivity | None:
    """The talk-spurt model of --speech-ratio/--profiles (None: neither); it needs --mode continuous."""
    ratio, spec = getattr(args, "speech_ratio", None), getattr(args, "profiles", None)
    if ratio is None and spec is None:
        return None
    if ratio is not None and spec is not None:
        raise UsageError("--speech-ratio and --profiles both set: give one")
    open_model = getattr(args, "arrival", CLOSED) != CLOSED or getattr(args, "trace", None) is not None
    if args.mode != CONTINUOUS and not open_model:
        flag = "--speech-ratio" if ratio is not None else "--profiles"
        raise UsageError(f"{flag} shapes continuous sessions: add --mode continuous (or --arrival)")
    profiles = () if spec is None else speaking_profiles(spec)
    dist = getattr(args, "pause_dist", EXPONENTIAL)
    seed = getattr(args, "seed", DEFAULT_SEED)
    return SpeechActivity(None if ratio is None else check_ratio(ratio), profiles, dist, seed)


def speaking_profiles(spec: str) -> tuple[SpeakingProfile, ...]:
    """--profiles: inline NAME:SHARE@RATIO items, or `@FILE` / a path to a .toml file."""
    if spec.startswith("@") or spec.endswith(".toml"):
        return load_speaking_profiles(Path(spec.removeprefix("@")))
    return parse_profiles(spec)


def idle_clients(args: argparse.Namespace) -> IdleClients:
    """--idle-clients/--idle-mode."""
    count = getattr(args, "idle_clients", 0)
    if count < 0:
        raise UsageError(f"--idle-clients must be >= 0, got {count}")
    return IdleClients(count, getattr(args, "idle_mode", IDLE_SILENCE))
