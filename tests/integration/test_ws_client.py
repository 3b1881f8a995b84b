"""Both WebSocket clients under the session (`loadgen.live.ws_client`), against real servers on 127.0.0.1
(websockets, and a picows server that never answers pings): whole messages, fragments reassembled, the
size limit (1009), upgrade headers both ways, a rejected upgrade, a refused connection, unanswered pings,
a send after the close. Each case runs for picows and for websockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from http import HTTPStatus

import numpy as np
import pytest
from picows import WSFrame, WSListener, WSTransport, ws_create_server
from websockets.asyncio.server import Request, Response, ServerConnection, serve

from loadgen.live.ws_client import (
    CLIENTS,
    Closed,
    ConnectFailed,
    ConnectionLost,
    ConnectOptions,
    UpgradeRejected,
    connect,
)

pytestmark = [pytest.mark.timeout(30), pytest.mark.parametrize("client", CLIENTS)]
LIMIT = 1000  # max message bytes in these tests


class Inbox:
    """A receiver that keeps everything it is given."""

    def __init__(self) -> None:
        self.messages: list[str | bytes] = []
        self.closed: asyncio.Future[Closed] = asyncio.get_running_loop().create_future()

    def on_message(self, data: str | bytes) -> None:
        self.messages.append(data)

    def on_closed(self, closed: Closed) -> None:
        assert not self.closed.done(), "on_closed called twice"
        self.closed.set_result(closed)


@asynccontextmanager
async def websockets_server(
    free_port: Callable[[], int],
    handler: Callable[[ServerConnection], Awaitable[None]],
    process_request: Callable[[ServerConnection, Request], Response | None] | None = None,
) -> AsyncIterator[str]:
    port = free_port()
    async with serve(handler, "127.0.0.1", port, compression=None, process_request=process_request,
                     process_response=_name_replica):
        yield f"ws://127.0.0.1:{port}"


def _name_replica(connection: ServerConnection, request: Request, response: Response) -> Response:
    response.headers["X-Replica"] = "replica-7"
    response.headers["X-Seen-Authorization"] = request.headers.get("Authorization", "")
    return response


async def test_whole_and_fragmented_messages_arrive_whole_text_as_str_binary_as_bytes(client, free_port):
    async def handler(ws: ServerConnection) -> None:
        await ws.send("hello")
        await ws.send(b"\x00\x01")
        await ws.send(["frag", "mented"])  # an iterable: one message in continuation frames
        await ws.send([b"\x02", b"\x03"])
        await ws.close()

    async with websockets_server(free_port, handler) as url:
        inbox = Inbox()
        await connect(client, url, inbox, ConnectOptions(max_message_bytes=LIMIT))
        closed = await inbox.closed
    assert inbox.messages == ["hello", b"\x00\x01", "fragmented", b"\x02\x03"]
    assert not closed.too_big and "received 1000" in closed.detail


@pytest.mark.parametrize("fragments", [1, 5], ids=["one-frame", "fragmented"])
async def test_a_message_above_the_limit_closes_with_1009_and_is_not_delivered(client, free_port, fragments):
    async def handler(ws: ServerConnection) -> None:
        await ws.send(["x" * (2 * LIMIT // fragments)] * fragments)
        await ws.send("after")  # never read: the client stops reading at its 1009
        await ws.wait_closed()

    async with websockets_server(free_port, handler) as url:
        inbox = Inbox()
        await connect(client, url, inbox, ConnectOptions(max_message_bytes=LIMIT))
        closed = await inbox.closed
    assert closed.too_big and "1009" in closed.detail
    assert inbox.messages == []


async def test_upgrade_headers_go_out_and_response_headers_come_back(client, free_port):
    async with websockets_server(free_port, lambda ws: ws.wait_closed()) as url:
        ws = await connect(client, url, Inbox(), ConnectOptions(headers={"Authorization": "Bearer k"}))
        await ws.close()
    assert ws.headers.get("X-Replica") == "replica-7"  # case-insensitive, as the session reads them
    assert ws.headers.get("x-seen-authorization") == "Bearer k"


async def test_a_rejected_upgrade_raises_with_its_status(client, free_port):
    def reject(connection: ServerConnection, request: Request) -> Response:
        return connection.respond(HTTPStatus.UNAUTHORIZED, "no\n")

    async with websockets_server(free_port, lambda ws: ws.wait_closed(), reject) as url:
        with pytest.raises(UpgradeRejected) as raised:
            await connect(client, url, Inbox(), ConnectOptions())
    assert raised.value.status == 401


async def test_a_refused_connection_is_one_line(client, free_port):
    with pytest.raises(ConnectFailed) as raised:
        await connect(client, f"ws://127.0.0.1:{free_port()}", Inbox(), ConnectOptions())
    assert "\n" not in str(raised.value) and "Error" in str(raised.value)


class _Deaf(WSListener):
    """A picows server connection that never answers pings (a paused replica, as far as pings go)."""

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        pass


async def test_unanswered_pings_close_the_connection_with_1011(client, free_port):
    port = free_port()
    server = await ws_create_server(lambda _request: _Deaf(), "127.0.0.1", port, enable_auto_pong=False)
    try:
        inbox = Inbox()
        options = ConnectOptions(ping_interval_s=0.1, ping_timeout_s=0.2, close_timeout_s=0.5)
        ws = await connect(client, f"ws://127.0.0.1:{port}", inbox, options)
        closed = await asyncio.wait_for(inbox.closed, 5)
        assert "1011" in closed.detail and "keepalive ping timeout" in closed.detail
        with pytest.raises(ConnectionLost):
            await ws.send(b"\x00" * 16)
        await ws.close()  # closing a closed connection is a no-op
    finally:
        server.close()


async def test_answered_pings_keep_the_connection_and_close_completes(client, free_port):
    async with websockets_server(free_port, lambda ws: ws.wait_closed()) as url:
        inbox = Inbox()
        ws = await connect(client, url, inbox, ConnectOptions(ping_interval_s=0.05, ping_timeout_s=0.05))
        await asyncio.sleep(0.4)  # several ping round trips
        assert not inbox.closed.done()
        await ws.send("options")
        await ws.close()
        closed = await inbox.closed
    assert "sent 1000" in closed.detail and not closed.too_big


async def test_sent_messages_arrive_intact_and_the_shared_audio_is_not_touched(client, free_port):
    audio = np.arange(4096, dtype=np.float32)
    chunks = [memoryview(audio[i : i + 1024]).cast("B") for i in range(0, 4096, 1024)]

    async def echo(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)

    async with websockets_server(free_port, echo) as url:
        inbox = Inbox()
        ws = await connect(client, url, inbox, ConnectOptions(max_message_bytes=LIMIT * 8))
        for chunk in chunks:
            await ws.send(chunk)
        await ws.send(b"END_OF_AUDIO")
        await ws.send("{}")
        while len(inbox.messages) < len(chunks) + 2:
            await asyncio.sleep(0.01)
        await ws.close()
    assert inbox.messages == [bytes(c) for c in chunks] + [b"END_OF_AUDIO", "{}"]
    assert np.array_equal(audio, np.arange(4096, dtype=np.float32))  # masking happened elsewhere
