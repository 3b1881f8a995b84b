"""Fail fast, in one line, when the endpoint cannot be reached at all (before starting N clients)."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from loadgen.core.errors import ServerUnreachable


def check_reachable(url: str, timeout_s: float = 5.0) -> None:
    """Open and close one TCP connection to the URL's host and port."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "wss" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return
    except socket.gaierror as exc:
        reason = f"host {host!r} does not resolve ({exc.strerror})"
    except TimeoutError:
        reason = f"no answer within {timeout_s:.0f} s"
    except OSError as exc:
        reason = exc.strerror or str(exc)
    raise ServerUnreachable(
        f"cannot reach {url}: {reason}; start the server (make demo starts one) or pass --url/--host/--port"
    )
