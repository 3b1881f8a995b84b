"""`python -m exporters`: flags choose the collectors; a bad flag is one line on stderr and exit 2."""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import re
import signal
import socket
import sys
from collections.abc import Sequence
from typing import Any, NoReturn
from urllib.parse import urlsplit

from prometheus_client import disable_created_metrics

from exporters.poller import Source
from exporters.server import bind, serve

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9096
DEFAULT_DOCKER_URL = "unix:///var/run/docker.sock"
DOCKER_SCHEMES = ("unix", "tcp", "http", "https", "ssh", "npipe")
MIN_SOURCE_TIMEOUT_S = 5.0


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line and exits 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def listen_address(text: str) -> tuple[str, int]:
    """`[HOST:]PORT` (IPv6 hosts in brackets); the host defaults to 127.0.0.1."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or DEFAULT_HOST
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not [HOST:]PORT with a port in 1-65535")
    return host, int(port)


def _poll_interval(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return seconds


def _regex(text: str) -> re.Pattern[str]:
    try:
        return re.compile(text)
    except re.error as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a regular expression ({exc})") from exc


def _http_url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"{text!r} is not an http(s) URL")
    return text


def _docker_url(text: str) -> str:
    if urlsplit(text).scheme not in DOCKER_SCHEMES:
        raise argparse.ArgumentTypeError(f"{text!r} is not a Docker URL ({', '.join(DOCKER_SCHEMES)})")
    return text


def build_parser() -> _Parser:
    """The exporter's flags."""
    parser = _Parser(prog="python -m exporters", description="GPU, container, process and nginx metrics.")
    add = parser.add_argument
    add("--listen", type=listen_address, default=(DEFAULT_HOST, DEFAULT_PORT), metavar="[HOST:]PORT",
        help=f"where /metrics is served (default {DEFAULT_HOST}:{DEFAULT_PORT})")
    add("--gpu", action=argparse.BooleanOptionalAction, default=False,
        help="GPUs through NVML, under dcgm-exporter's names (default off)")
    add("--docker", action="store_true", help="Docker containers, under cAdvisor's names")
    add("--docker-url", type=_docker_url, metavar="URL", help=f"Docker engine (default {DEFAULT_DOCKER_URL})")
    add("--docker-label-filter", action="append", default=[], metavar="KEY[=VALUE]",
        help="only containers with this label (repeatable; all must match)")
    add("--process-pidfile-glob", action="append", default=[], metavar="GLOB",
        help="local processes named by pid files, e.g. 'runs/stack/pids/replica-*.pid' (repeatable)")
    add("--process-match", type=_regex, metavar="REGEX", help="local processes whose command line matches")
    add("--nginx-status-url", type=_http_url, metavar="URL",
        help="nginx stub_status, e.g. http://127.0.0.1:9091/nginx_status")
    add("--poll-interval", type=_poll_interval, default=2.0, metavar="SECONDS",
        help="seconds between two polls of a source (default 2)")
    add("--log-level", choices=("debug", "info", "warning", "error"), default="info")
    return parser


def _check(parser: _Parser, args: argparse.Namespace) -> None:
    if (args.docker_url or args.docker_label_filter) and not args.docker:
        parser.error("--docker-url and --docker-label-filter need --docker")
    if not (args.gpu or args.docker or args.process_pidfile_glob or args.process_match
            or args.nginx_status_url):
        parser.error("choose at least one collector: --gpu, --docker, --process-pidfile-glob, "
                     "--process-match or --nginx-status-url")


def build_sources(parser: _Parser, args: argparse.Namespace) -> list[Source[Any]]:
    """One source per chosen collector (the GPU and Docker libraries are imported only when chosen)."""
    timeout_s = max(MIN_SOURCE_TIMEOUT_S, args.poll_interval)
    sources: list[Source[Any]] = []
    try:
        if args.gpu:
            from exporters.gpu import GpuSource

            sources.append(GpuSource())
        if args.docker:
            from exporters.docker_containers import DockerSource

            url = args.docker_url or DEFAULT_DOCKER_URL
            sources.append(DockerSource(url, args.docker_label_filter, timeout_s=timeout_s))
    except ImportError as exc:
        parser.error(f"--gpu and --docker need the 'exporters' extra (pip install '.[exporters]'): {exc}")
    if args.process_pidfile_glob or args.process_match:
        from exporters.processes import ProcessSource

        sources.append(ProcessSource(args.process_pidfile_glob, args.process_match))
    if args.nginx_status_url:
        from exporters.nginx_status import NginxSource

        sources.append(NginxSource(args.nginx_status_url, timeout_s=timeout_s))
    return sources


async def _run(sources: Sequence[Source[Any]], sock: socket.socket, interval_s: float) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await serve(sources, sock, interval_s, stop)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, bind, serve until SIGINT/SIGTERM; 2 for a bad flag, 1 when the port cannot be bound."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _check(parser, args)
    sources = build_sources(parser, args)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    disable_created_metrics()  # no `*_created` series: the exporters we stand in for have none
    host, port = args.listen
    try:
        sock = bind(host, port)
    except OSError as exc:
        print(f"{parser.prog}: cannot listen on {host}:{port} ({exc.strerror or exc})", file=sys.stderr)
        return 1
    asyncio.run(_run(sources, sock, args.poll_interval))
    return 0
