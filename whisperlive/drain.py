"""A replica's life after startup: its health endpoints, and draining on SIGTERM (light: no torch here).

On SIGTERM (or SIGINT) the replica drains: it closes its listening socket, so a balancer's next connect
is refused and goes to another replica, lets the live streams end on their own for up to `grace_s`,
closes the ones still open after that with 1001 (going away; a client with `--reconnect` resumes on
another replica), and exits. A second signal during the drain exits at once. Before the server listens
(the model is still loading) a signal exits at once: there is nothing to drain.

The metrics port also answers `/ready` (200 while the model is loaded, the WebSocket listener accepts
and no drain has begun; 503 otherwise) and `/live` (200 unless the accept loop died without a drain).
Neither opens a WebSocket session: a probe takes no client slot and moves no `whisperlive_connections_*`.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import FrameType
from typing import Any, NoReturn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import prometheus_client
from prometheus_client.exposition import ThreadingWSGIServer
from websockets.frames import CloseCode
from websockets.sync.server import Server

log = logging.getLogger("whisperlive")

READY_PATH = "/ready"
LIVE_PATH = "/live"
_POLL_S = 0.2
_CLOSE_WAIT_S = 3.0  # for the 1001 close frames of the streams cut at the end of the grace period


@dataclass(frozen=True)
class Health:
    """What `/ready` and `/live` answer; `reason` is their one-line body."""

    ready: bool
    live: bool
    reason: str


@dataclass(frozen=True)
class Drained:
    """How a drain ended: streams that ended on their own, streams cut at the grace period, seconds."""

    ended: int
    cut: int
    waited_s: float

    def line(self) -> str:
        """The log line."""
        cut = f", {self.cut} cut at the grace period (closed with 1001)" if self.cut else ""
        return f"drained in {self.waited_s:.1f} s: {self.ended} stream(s) ended on their own{cut}"


class Lifecycle:
    """The replica's state as the signal handler and the health endpoints see it.

    `attach` hands it upstream's WebSocket server once that listens (after the model load).
    """

    def __init__(self, grace_s: float) -> None:
        self.grace_s = grace_s
        self._server: Server | None = None
        self._draining = threading.Event()

    def attach(self, server: Server) -> None:
        """The server now listening: from here a signal drains it."""
        self._server = server

    def health(self) -> Health:
        """Ready, live, and why, from the server's own state."""
        server = self._server
        if self._draining.is_set():
            return Health(False, True, "draining: no new streams")
        if server is None:
            return Health(False, True, "starting: the model is loading, the listener is not open yet")
        if server.socket_closed.is_set() or server.socket.fileno() < 0:
            return Health(False, False, "the WebSocket listener is closed")
        open_now = _open_connections(server)
        return Health(True, True, f"ready: model loaded, accepting, {open_now} connection(s) open")

    def drain(self, sleep: Callable[[float], None] = time.sleep) -> Drained:
        """Stop accepting, wait up to `grace_s` for the connections to end, close the rest with 1001."""
        server = self._server
        if server is None:
            raise RuntimeError("drain before attach: nothing listens yet")
        self._draining.set()
        started = time.monotonic()
        server.socket.close()  # new connects are refused now; accepted ones keep their handler threads
        initial = _open_connections(server)
        while _open_connections(server) and time.monotonic() - started < self.grace_s:
            sleep(_POLL_S)
        left = list(server.connections)
        _close_all(left, time.monotonic() + _CLOSE_WAIT_S)
        return Drained(max(0, initial - len(left)), len(left), time.monotonic() - started)

    def on_signal(self, signum: int, _frame: FrameType | None) -> None:
        """The SIGTERM/SIGINT handler: drain (when listening and not draining yet), then exit."""
        name = signal.Signals(signum).name
        if self._server is None or self._draining.is_set():
            log.info("stopping on %s%s", name, " during the drain" if self._draining.is_set() else "")
            _exit(128 + signum)
        log.info("draining on %s: listener closed, up to %g s for the open streams", name, self.grace_s)
        log.info("%s", self.drain().line())
        _exit(0)

    def install(self) -> None:
        """Handle SIGTERM and SIGINT with `on_signal`."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self.on_signal)


def start_status_server(host: str, port: int, lifecycle: Lifecycle) -> None:
    """Serve `/metrics` (the whisperlive_* metrics), `/ready` and `/live` on host:port in a thread."""
    metrics = prometheus_client.make_wsgi_app()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path not in (READY_PATH, LIVE_PATH):
            return metrics(environ, start_response)  # type: ignore[no-any-return]
        health = lifecycle.health()
        ok = health.ready if path == READY_PATH else health.live
        start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "text/plain")])
        return [f"{health.reason}\n".encode()]

    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    server_class = type("StatusServer", (ThreadingWSGIServer,), {"address_family": family})
    httpd: WSGIServer = make_server(host, port, app, server_class, handler_class=_QuietHandler)
    threading.Thread(target=httpd.serve_forever, name="status-http", daemon=True).start()


class _QuietHandler(WSGIRequestHandler):
    """No access log line per probe or scrape."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _open_connections(server: Server) -> int:
    """Connection handlers still running: streams, and handshakes accepted before the listener closed."""
    with server.lock:
        return len(server.handler_threads)


def _close_all(connections: list[Any], deadline: float) -> None:
    """Close each connection with 1001 in parallel; wait for the close frames until `deadline`."""
    closers = [
        threading.Thread(target=c.close, args=(CloseCode.GOING_AWAY, "server draining"), daemon=True)
        for c in connections
    ]
    for closer in closers:
        closer.start()
    for closer in closers:
        closer.join(max(0.0, deadline - time.monotonic()))


def _exit(code: int) -> NoReturn:
    # Upstream's per-client transcription threads are not daemons: a normal exit would wait for them.
    logging.shutdown()
    os._exit(code)
