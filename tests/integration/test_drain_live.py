"""The Kubernetes preStop drain against the real server: it waits while a stream is open, ends after it."""

from __future__ import annotations

import asyncio
import sys

import pytest
from websockets.asyncio.client import connect

from loadgen.core.protocol import Ready, StreamOptions, decode

pytestmark = pytest.mark.integration


async def test_the_drain_waits_for_the_open_stream_and_ends_when_it_closes(whisperlive_server):
    ws = await connect(whisperlive_server.url)
    try:
        await ws.send(StreamOptions(uid="draining").to_json())
        assert isinstance(decode(await asyncio.wait_for(ws.recv(), 30), "draining"), Ready)
        drain = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "whisperlive.drain", "--metrics-url", whisperlive_server.metrics_url),
            *("--min-wait", "0", "--timeout", "60"),
            stdout=asyncio.subprocess.PIPE,
        )
        with pytest.raises(asyncio.TimeoutError):  # a stream is active: the pod must not stop yet
            await asyncio.wait_for(asyncio.shield(drain.wait()), 4)
    finally:
        await ws.close()
    out, _ = await asyncio.wait_for(drain.communicate(), 20)  # polls every 2 s
    assert drain.returncode == 0
    assert out.decode() == "drain: no active streams\n"
