"""Readiness by handshake, from the load generator's side: open a stream through the URL, wait for
SERVER_READY, end it and close. What a sweep waits for after restarting a deployment (the balancer, a
Compose port or a Kubernetes Service answers only once a replica behind it has its model loaded).

`whisperlive.readiness` has the replica-side probes (its `/ready` endpoint too); `loadgen` cannot import
`whisperlive`, and needs only this.
"""

from __future__ import annotations

import asyncio
import time
import uuid

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidHandshake, InvalidURI, WebSocketException

from loadgen.core.errors import NotReadyError
from loadgen.core.protocol import END_OF_AUDIO, Ready, StreamOptions, decode

_ATTEMPT_S = 10.0
_RETRY_S = 0.5


async def handshake(url: str, timeout_s: float = _ATTEMPT_S) -> str | None:
    """One stream's handshake: None when SERVER_READY came, else why not (one line)."""
    try:
        return await asyncio.wait_for(_handshake(url, timeout_s), timeout_s)
    except (asyncio.TimeoutError, TimeoutError):
        return f"no SERVER_READY within {timeout_s:g} s"
    except (OSError, InvalidHandshake, InvalidURI, WebSocketException) as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


async def _handshake(url: str, timeout_s: float) -> str | None:
    uid = f"sweep-ready-{uuid.uuid4().hex[:8]}"
    async with connect(url, open_timeout=timeout_s, compression=None) as ws:
        await ws.send(StreamOptions(uid=uid).to_json())
        async for message in ws:
            event = decode(message, uid)
            if isinstance(event, Ready):
                await ws.send(END_OF_AUDIO)
                return None
            return f"answered {type(event).__name__} instead of SERVER_READY"
    return "closed before SERVER_READY"


def wait_ready(url: str, timeout_s: float) -> float:
    """Retry the handshake until it succeeds (the seconds it took) or `timeout_s` passes (NotReadyError
    with the last reason). For synchronous callers."""
    started = time.monotonic()
    deadline = started + timeout_s
    reason = "not tried"
    while time.monotonic() < deadline:
        left = deadline - time.monotonic()
        answer = asyncio.run(handshake(url, min(_ATTEMPT_S, max(0.1, left))))
        if answer is None:
            return time.monotonic() - started
        reason = answer
        time.sleep(min(_RETRY_S, max(0.0, deadline - time.monotonic())))
    raise NotReadyError(f"{url} not ready by handshake within {timeout_s:g} s: {reason}")
