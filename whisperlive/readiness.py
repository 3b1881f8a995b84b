"""Readiness, two ways, by the URL's scheme.

- `http://HOST:METRICS_PORT/ready`: the replica's own answer (`whisperlive.drain`): model loaded,
  listener accepting, not draining. No WebSocket session: it takes no client slot and is not counted in
  `whisperlive_connections_*`. What the Dockerfiles, Compose, Kubernetes and the local stack probe.
- `ws://HOST:PORT`: a real handshake, options JSON in, SERVER_READY out, then END_OF_AUDIO and close. It
  occupies one client slot for a moment, exactly like a real stream would; for servers without the
  endpoint (the simulator, an upstream server run by hand, the balancer).
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from loadgen.core.errors import NotReadyError
from loadgen.core.protocol import END_OF_AUDIO, Malformed, Ready, ServerError, StreamOptions, Wait, decode

_MAX_ATTEMPT_S = 10.0
_LOG_TAIL_LINES = 20


@dataclass(frozen=True)
class Answer:
    """What one handshake settled: `reason` is one line either way."""

    ok: bool
    reason: str
    wait: bool = False  # the server answered WAIT: it is up but has no free slot
    final: bool = False  # retrying cannot help (refused credentials, not a WebSocket URL)


@dataclass(frozen=True)
class Readiness(Answer):
    """One probe's answer and how long it took."""

    elapsed_s: float = 0.0


async def probe(url: str, timeout_s: float = 10.0, api_key: str | None = None) -> Readiness:
    """Open a stream, wait for SERVER_READY within `timeout_s`, end the stream and close."""
    started = time.monotonic()
    try:
        answer = await asyncio.wait_for(_handshake(url, timeout_s, api_key), timeout_s)
    except (asyncio.TimeoutError, TimeoutError):
        answer = Answer(False, f"no SERVER_READY within {timeout_s:g} s")
    except (OSError, InvalidHandshake, InvalidURI) as exc:
        answer = _connect_failure(exc)
    return Readiness(**vars(answer), elapsed_s=time.monotonic() - started)


def check_ready(url: str, timeout_s: float = 10.0, api_key: str | None = None) -> Readiness:
    """`check_http` for an http(s):// URL, else `probe`; for synchronous callers (not from inside a
    running event loop)."""
    if url.startswith(("http://", "https://")):
        return check_http(url, timeout_s)
    return asyncio.run(probe(url, timeout_s, api_key))


def check_http(url: str, timeout_s: float = 10.0) -> Readiness:
    """GET a replica's `/ready`: 200 is ready, anything else is not, with the replica's one-line reason."""
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            answer = Answer(True, _body_line(response.read()))
    except urllib.error.HTTPError as exc:
        answer = Answer(False, f"HTTP {exc.code}: {_body_line(exc.read())}", final=exc.code == 404)
    except urllib.error.URLError as exc:
        reason = exc.reason
        answer = _connect_failure(reason) if isinstance(reason, OSError) else Answer(False, str(reason))
    except (OSError, ValueError) as exc:
        answer = _connect_failure(exc) if isinstance(exc, OSError) else Answer(False, str(exc), final=True)
    return Readiness(**vars(answer), elapsed_s=time.monotonic() - started)


def _body_line(body: bytes) -> str:
    return (body.decode(errors="replace").strip().splitlines() or ["empty body"])[0]


def wait_until_ready(
    url: str,
    timeout_s: float,
    process: subprocess.Popen[bytes] | None = None,
    log_path: Path | None = None,
    api_key: str | None = None,
    accept_wait: bool = False,
    interval_s: float = 0.25,
) -> Readiness:
    """Probe until ready; raise NotReadyError at the deadline, or at once when `process` has exited
    or the answer cannot change (refused credentials).

    `accept_wait` counts a WAIT (up, but no free slot) as ready. The error carries the last lines of
    `log_path` when given.
    """
    deadline = time.monotonic() + timeout_s
    last: Readiness | None = None
    while True:
        if process is not None and process.poll() is not None:
            raise NotReadyError(
                f"server process exited with code {process.returncode} before {url} was ready"
                + _log_tail(log_path)
            )
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            reason = last.reason if last else "not probed"
            raise NotReadyError(f"{url} not ready within {timeout_s:g} s: {reason}" + _log_tail(log_path))
        last = check_ready(url, min(remaining, _MAX_ATTEMPT_S), api_key)
        if last.ok or (accept_wait and last.wait):
            return last
        if last.final:
            raise NotReadyError(f"{url} not ready: {last.reason}")
        time.sleep(min(interval_s, max(0.0, deadline - time.monotonic())))


async def _handshake(url: str, timeout_s: float, api_key: str | None) -> Answer:
    uid = f"readiness-{uuid.uuid4().hex[:12]}"
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
    async with connect(url, open_timeout=timeout_s, close_timeout=2, additional_headers=headers) as ws:
        await ws.send(StreamOptions(uid=uid).to_json())
        answer = await _first_answer(ws, uid)
        if answer.ok:
            await ws.send(END_OF_AUDIO)
        return answer


async def _first_answer(ws: ClientConnection, uid: str) -> Answer:
    """Read frames until one settles readiness; informational ones (warnings, language) are skipped."""
    try:
        async for raw in ws:
            event = decode(raw, uid)
            if isinstance(event, Ready):
                return Answer(True, f"SERVER_READY (backend {event.backend or 'unnamed'})")
            if isinstance(event, Wait):
                return Answer(
                    False, f"WAIT: server full or busy (estimated wait {event.minutes:.1f} min)", wait=True
                )
            if isinstance(event, ServerError):
                return Answer(False, f"ERROR from server: {event.message}")
            if isinstance(event, Malformed):
                return Answer(False, f"unexpected reply: {event.detail}")
    except ConnectionClosed:
        pass
    return Answer(False, "server closed the connection before SERVER_READY")


def _connect_failure(exc: Exception) -> Answer:
    if isinstance(exc, ConnectionRefusedError):
        return Answer(False, "connection refused")
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        if status in (401, 403):
            return Answer(
                False, f"handshake refused with HTTP {status}: wrong or missing --api-key", final=True
            )
        return Answer(False, f"handshake refused with HTTP {status}")
    if isinstance(exc, InvalidURI):
        return Answer(False, f"not a WebSocket URL ({exc.uri!r}): use ws://host:port", final=True)
    if isinstance(exc, socket.gaierror):
        return Answer(False, f"host name does not resolve ({exc.strerror})")
    if isinstance(exc, OSError):
        return Answer(False, exc.strerror or str(exc) or type(exc).__name__)
    return Answer(False, f"WebSocket handshake failed: {exc}")


def _log_tail(log_path: Path | None) -> str:
    if log_path is None or not log_path.is_file():
        return ""
    with log_path.open(errors="replace") as log:
        lines = deque(log, maxlen=_LOG_TAIL_LINES)
    return f"; last lines of {log_path}:\n" + "".join(lines).rstrip()


def describe(url: str, readiness: Readiness) -> str:
    """The CLI's one line for a probe result."""
    state = "ready" if readiness.ok else "up but full" if readiness.wait else "not ready"
    return f"{state}: {url}: {readiness.reason} ({readiness.elapsed_s:.2f} s)"
