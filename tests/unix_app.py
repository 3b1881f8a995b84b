"""An aiohttp application served on a UNIX socket, for the tests that replay the Docker Engine API."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web


@contextlib.asynccontextmanager
async def serve_unix(app: web.Application) -> AsyncIterator[str]:
    """Serve `app` on a fresh socket; yields its `unix://` URL, as the Docker SDK takes it."""
    with tempfile.TemporaryDirectory(prefix="dk") as directory:  # short: UNIX socket paths are limited
        socket_path = Path(directory) / "docker.sock"
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.UnixSite(runner, str(socket_path)).start()
        try:
            yield f"unix://{socket_path}"
        finally:
            await runner.cleanup()
