"""Command line: `python -m whisperlive serve ...` and `python -m whisperlive ready ...`.

Only light modules are imported here: torch and ctranslate2 load after the flags are parsed, so that
`--omp-threads` reaches them through OMP_NUM_THREADS.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from loadgen.core.errors import EXIT_OK, NotReadyError, UsageError, UserError
from loadgen.core.protocol import API_KEY_ENV
from whisperlive.settings import BACKENDS, ServeSettings, validate

REPLICA_NAME_ENV = "POD_NAME"
_DESCRIPTION = "Run or check a WhisperLive replica (the real upstream server)."
_DEFAULTS = ServeSettings()


class _Parser(argparse.ArgumentParser):
    """Raise UsageError (one line) instead of printing the usage block and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run a subcommand; every failure prints one line and returns its exit code."""
    try:
        args = build_parser().parse_args(argv)
        return int(args.run(args))
    except UserError as exc:
        print(f"whisperlive: {exc}", file=sys.stderr)
        return exc.exit_code


def build_parser() -> argparse.ArgumentParser:
    """The `whisperlive` parser with its `serve` and `ready` subcommands."""
    parser = _Parser(prog="python -m whisperlive", description=_DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_serve(commands.add_parser("serve", help="run one WhisperLive replica (the real upstream server)"))
    _add_ready(commands.add_parser("ready", help="check a server (handshake or /ready); exit 0 when ready"))
    return parser


def parse_serve_settings(argv: Sequence[str]) -> ServeSettings:
    """Validated settings from `serve` flags (raises UsageError)."""
    args = build_parser().parse_args(["serve", *argv])
    return _settings_from(args)


def _add_serve(sub: argparse.ArgumentParser) -> None:
    d = _DEFAULTS
    sub.add_argument("--host", default=d.host, help="address to bind, also for --metrics-port (%(default)s)")
    sub.add_argument("--port", type=int, default=d.port, metavar="N", help="WebSocket port (%(default)s)")
    sub.add_argument("--backend", default=d.backend, choices=BACKENDS, help="(%(default)s)")
    sub.add_argument(
        "--model",
        default=d.model,
        help="tiny.en or base (offline, pip packages), a CTranslate2 directory or a hub name (%(default)s)",
    )
    sub.add_argument(
        "--single-model",
        action=argparse.BooleanOptionalAction,
        default=d.single_model,
        help="one model, loaded at startup, shared by all streams (default on)",
    )
    sub.add_argument(
        "--max-clients",
        type=int,
        default=d.max_clients,
        metavar="N",
        help="streams at once, more get WAIT (%(default)s)",
    )
    sub.add_argument(
        "--max-connection-time",
        type=float,
        default=d.max_connection_time,
        metavar="S",
        help="seconds before upstream ends a stream (%(default)g; upstream's own default is 300)",
    )
    _add_batch(sub)
    sub.add_argument("--omp-threads", type=int, metavar="N", help="sets OMP_NUM_THREADS (default: inherited)")
    sub.add_argument(
        "--metrics-port",
        type=int,
        default=d.metrics_port,
        metavar="N",
        help="whisperlive_* metrics, 0 = off (%(default)s)",
    )
    _add_api_key(sub)
    sub.add_argument(
        "--cache-path", default=d.cache_path, metavar="DIR", help="upstream's cache_path (%(default)s)"
    )
    sub.add_argument(
        "--replica-name",
        default=os.environ.get(REPLICA_NAME_ENV) or None,
        metavar="NAME",
        help=f"announce NAME in an X-Replica handshake header, the load generator's replica label "
        f"(default: ${REPLICA_NAME_ENV}, the pod name on Kubernetes; unset: the balancer's address)",
    )
    sub.add_argument(
        "--drain-grace",
        dest="drain_grace_s",
        type=float,
        default=d.drain_grace_s,
        metavar="S",
        help="on SIGTERM: stop accepting, let open streams run this long, then close them with 1001 "
        "(%(default)g; keep it below the stop grace period of Compose or Kubernetes)",
    )
    sub.set_defaults(run=_run_serve)


def _add_batch(sub: argparse.ArgumentParser) -> None:
    d = _DEFAULTS
    sub.add_argument(
        "--batch",
        action=argparse.BooleanOptionalAction,
        default=d.batch,
        help="upstream's cross-stream batching (off)",
    )
    sub.add_argument(
        "--batch-max-size", type=int, default=d.batch_max_size, metavar="N", help="(%(default)s)"
    )
    sub.add_argument(
        "--batch-window-ms", type=int, default=d.batch_window_ms, metavar="MS", help="(%(default)s)"
    )
    sub.add_argument(
        "--batch-max-queue-wait-s",
        type=float,
        default=d.batch_max_queue_wait_s,
        metavar="S",
        help="queue wait above which new streams get WAIT (%(default)g)",
    )
    sub.add_argument(
        "--batch-max-admissions-per-s",
        type=float,
        default=d.batch_max_admissions_per_s,
        metavar="R",
        help="new streams admitted per second, the rest get WAIT (%(default)g)",
    )


def _add_ready(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--url",
        default=f"ws://127.0.0.1:{_DEFAULTS.port}",
        help="ws://HOST:PORT: a full handshake (takes a client slot for a moment); "
        "http://HOST:METRICS_PORT/ready: the replica's own readiness, no slot (%(default)s)",
    )
    sub.add_argument(
        "--timeout", type=float, default=10.0, metavar="S", help="seconds to keep trying (%(default)g)"
    )
    _add_api_key(sub)
    sub.add_argument(
        "--accept-wait", action="store_true", help="count a WAIT (up but full) as ready: a liveness check"
    )
    sub.set_defaults(run=_run_ready)


def _add_api_key(sub: argparse.ArgumentParser) -> None:
    key = os.environ.get(API_KEY_ENV) or None
    sub.add_argument(
        "--api-key", default=key, metavar="KEY", help=f"default: ${API_KEY_ENV} (keeps the key out of ps)"
    )


def _settings_from(args: argparse.Namespace) -> ServeSettings:
    fields = ServeSettings.__dataclass_fields__
    return validate(ServeSettings(**{name: getattr(args, name) for name in fields}))


def _run_serve(args: argparse.Namespace) -> int:
    from whisperlive.launcher import serve

    return serve(_settings_from(args))


def _run_ready(args: argparse.Namespace) -> int:
    from whisperlive.readiness import describe, wait_until_ready

    if args.timeout <= 0:
        raise UsageError(f"--timeout {args.timeout:g} must be above 0 seconds")
    try:
        result = wait_until_ready(args.url, args.timeout, api_key=args.api_key, accept_wait=args.accept_wait)
    except NotReadyError as exc:
        print(exc)
        return exc.exit_code
    print(describe(args.url, result))
    return EXIT_OK
