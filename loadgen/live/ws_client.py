"""The WebSocket client under a session: one small interface, two libraries (picows, websockets).

`connect` opens a connection and pushes every server message to a `Receiver` as it arrives: picows calls
back synchronously from its protocol (no task, no future per message); for websockets a small receive
loop does the same. The session above never imports a WebSocket library. Both clients: compression off,
extra upgrade headers, one timeout over TCP connect and upgrade, the upgrade's response headers, pings
every `ping_interval_s` that must be answered within `ping_timeout_s` (a paused server still accepts
TCP: only this reveals it; unanswered, the connection closes with 1011), fragmented messages reassembled,
and a message above `max_message_bytes` closes the connection with 1009 (`Closed.too_big`).

    ws = await connect("picows", url, receiver, ConnectOptions(headers={"Authorization": "Bearer K"}))
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Protocol

from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect
from picows.common import WSError, WSInvalidStatusError
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as websockets_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.frames import CloseCode

PICOWS, WEBSOCKETS = "picows", "websockets"
CLIENTS = (PICOWS, WEBSOCKETS)
DEFAULT_CLIENT = PICOWS  # 0.7-0.85 of websockets' CPU per stream (docs/PERFORMANCE.md)
PING_TIMEOUT_DETAIL = "keepalive ping timeout"
READ_BUFFER_BYTES = 4096  # picows' initial read buffer (it grows when needed); server messages are small
# picows' `send` copies each binary message into a write buffer of the connection's own, which then keeps
# the size of an audio chunk for the connection's life (16 KiB a stream). Instead every connection frames
# and masks its message in place in this one buffer (room for the header in front): picows writes it to
# the socket at once, or copies what the socket did not take, so it is free again when `send` returns.
HEADER_ROOM = 14
_SCRATCH = bytearray(HEADER_ROOM)


@dataclass(frozen=True)
class ConnectOptions:
    """How a connection is opened and kept alive."""

    headers: Mapping[str, str] = field(default_factory=dict)
    open_timeout_s: float = 10.0
    ping_interval_s: float = 5.0
    ping_timeout_s: float = 10.0
    max_message_bytes: int = 2**20
    close_timeout_s: float = 10.0


@dataclass(frozen=True)
class Closed:
    """How a connection ended: `detail` names the close frames; `too_big`: we closed it with 1009."""

    detail: str
    too_big: bool = False


class Receiver(Protocol):
    """What a connection pushes its server messages and its end to."""

    def on_message(self, data: str | bytes) -> None:
        """A whole message: text as str, binary as bytes."""

    def on_closed(self, closed: Closed) -> None:
        """The connection ended (called once)."""


class Connection(Protocol):
    """An open connection: send, close, and the upgrade's response headers."""

    headers: Mapping[str, str]

    async def send(self, data: str | bytes | memoryview) -> None:
        """Send one message (str: text, else binary), waiting while the socket's buffer is full."""

    async def close(self) -> None:
        """Close (handshake, bounded by the close timeout) and wait until every message was delivered."""


class UpgradeRejected(Exception):
    """The server answered the upgrade with an HTTP status other than 101."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status} on upgrade")
        self.status = status


class ConnectFailed(Exception):
    """The connection could not be opened (refused, reset, bad handshake); the message is one line."""


class ConnectionLost(Exception):
    """A send on a connection that has already closed."""


async def connect(client: str, url: str, receiver: Receiver, options: ConnectOptions) -> Connection:
    """Open a connection with `client` (picows or websockets); raises UpgradeRejected, TimeoutError
    (no upgrade within the open timeout) or ConnectFailed."""
    if client == PICOWS:
        return await _open_picows(url, receiver, options)
    if client == WEBSOCKETS:
        return await _open_websockets(url, receiver, options)
    raise ValueError(f"unknown WebSocket client {client!r}; one of {', '.join(CLIENTS)}")


def close_detail(received: tuple[int, str] | None, sent: tuple[int, str] | None, sent_first: bool) -> str:
    """The close frames of a connection in one line, as websockets words them."""
    if received is None and sent is None:
        return "no close frame received or sent"
    parts = {"received": received, "sent": sent}
    order = ("sent", "received") if sent_first else ("received", "sent")
    words = [f"{name} {frame[0]} ({frame[1] or 'no reason'})" for name in order if (frame := parts[name])]
    return "; then ".join(words)


# picows: callbacks straight from the protocol.


async def _open_picows(url: str, receiver: Receiver, options: ConnectOptions) -> PicowsConnection:
    connection = PicowsConnection(receiver, options)
    try:
        async with asyncio.timeout(options.open_timeout_s):
            await ws_connect(
                lambda: connection,
                url,
                websocket_handshake_timeout=None,  # the timeout above covers TCP connect and upgrade
                max_frame_size=options.max_message_bytes,
                extra_headers=options.headers,
                max_redirects=0,
                read_buffer_init_size=READ_BUFFER_BYTES,
            )
    except WSInvalidStatusError as exc:
        raise UpgradeRejected(int(exc.response.status) if exc.response else 0) from exc
    except (OSError, WSError) as exc:
        raise ConnectFailed(f"{type(exc).__name__}: {exc}") from exc
    return connection


class PicowsConnection(WSListener):
    """A picows connection: reassembles messages, answers close frames, pings, and flow control."""

    def __init__(self, receiver: Receiver, options: ConnectOptions) -> None:
        super().__init__()
        self.receiver = receiver
        self.options = options
        self.headers: Mapping[str, str] = {}
        self.transport: WSTransport | None = None
        self._parts: list[bytes] = []  # the fragments of a message still arriving
        self._parts_text = False
        self._parts_size = 0
        self._writable: asyncio.Future[None] | None = None  # set while the socket's buffer is full
        self._ping_timer: asyncio.TimerHandle | None = None
        self._ping_sent_at = 0.0
        self._closed = False

    # Callbacks from picows.

    def on_ws_connected(self, transport: WSTransport) -> None:
        """Upgraded: keep the headers, start pinging."""
        self.transport = transport
        self.headers = transport.response.headers
        self._schedule_ping(self.options.ping_interval_s)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        """Deliver whole messages; reassemble fragments; answer a close frame; note pongs."""
        kind = frame.msg_type
        if transport.is_close_frame_sent and _failing(transport):
            return  # we are closing on an error (1009, 1007, a parser error): nothing more is read
        if kind is WSMsgType.TEXT and frame.fin and not self._parts:
            self._deliver(transport, frame.get_payload_as_bytes(), True)
        elif kind is WSMsgType.BINARY and frame.fin and not self._parts:
            self.receiver.on_message(frame.get_payload_as_bytes())
        elif kind is WSMsgType.PONG:
            self._on_pong()
        elif kind is WSMsgType.CLOSE:
            if not transport.is_close_frame_sent:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
        elif kind is not WSMsgType.PING:  # picows answers pings itself
            self._fragment(transport, frame)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        """Closed: stop the timers, release a waiting sender, tell the receiver how it ended."""
        self._closed = True
        if self._ping_timer is not None:
            self._ping_timer.cancel()
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self.receiver.on_closed(_picows_closed(transport))

    def pause_writing(self) -> None:
        """The socket's buffer is full: senders wait."""
        if self._writable is None or self._writable.done():
            self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        """The socket's buffer drained: senders go on."""
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    # The connection.

    async def send(self, data: str | bytes | memoryview) -> None:
        """Send one message; wait while the socket's buffer is above its high-water mark."""
        if self._closed or self.transport is None:
            raise ConnectionLost("connection closed")
        if isinstance(data, str):
            self.transport.send(WSMsgType.TEXT, data)
        else:  # framed and masked in one buffer shared by every connection, not one each
            _SCRATCH[HEADER_ROOM:] = data
            self.transport.send_reuse_external_bytearray(WSMsgType.BINARY, _SCRATCH, HEADER_ROOM)
        if self._writable is not None and not self._writable.done():
            await self._writable

    async def close(self) -> None:
        """Send a close frame (unless one was sent), wait for the server's, then for the disconnect."""
        transport = self.transport
        if transport is None or self._closed:
            return
        if not transport.is_close_frame_sent:
            transport.send_close(WSCloseCode.OK)
        try:
            async with asyncio.timeout(self.options.close_timeout_s):
                with suppress(WSError):  # a protocol error picows found: already in close_handshake
                    await transport.wait_disconnected()
        except TimeoutError:
            transport.disconnect(graceful=False)
            with suppress(WSError):
                await transport.wait_disconnected()

    # Internals.

    def _deliver(self, transport: WSTransport, payload: bytes, text: bool) -> None:
        if not text:
            self.receiver.on_message(payload)
            return
        try:
            message = payload.decode()
        except UnicodeDecodeError:
            transport.send_close(WSCloseCode.INVALID_TEXT, b"invalid UTF-8")
            transport.disconnect()
            return
        self.receiver.on_message(message)

    def _fragment(self, transport: WSTransport, frame: WSFrame) -> None:
        """A frame of a fragmented message: collect, bound, and deliver the whole at its last frame."""
        kind = frame.msg_type
        if kind is not WSMsgType.CONTINUATION:
            self._parts_text, self._parts, self._parts_size = kind is WSMsgType.TEXT, [], 0
        self._parts.append(frame.get_payload_as_bytes())
        self._parts_size += frame.payload_size
        if self._parts_size > self.options.max_message_bytes:
            self._parts, self._parts_size = [], 0
            transport.send_close(WSCloseCode.MESSAGE_TOO_BIG, b"message too big")
            transport.disconnect()
        elif frame.fin:
            payload, self._parts, self._parts_size = b"".join(self._parts), [], 0
            self._deliver(transport, payload, self._parts_text)

    def _schedule_ping(self, delay: float) -> None:
        loop = asyncio.get_running_loop()
        self._ping_timer = loop.call_later(max(delay, 0.0), self._ping)

    def _ping(self) -> None:
        """Send a ping; unanswered within the ping timeout, close with 1011."""
        if self._closed or self.transport is None:
            return
        loop = asyncio.get_running_loop()
        self._ping_sent_at = loop.time()
        self.transport.send_ping()
        self._ping_timer = loop.call_later(self.options.ping_timeout_s, self._ping_overdue)

    def _on_pong(self) -> None:
        if self._ping_sent_at and self._ping_timer is not None:
            self._ping_timer.cancel()
            elapsed = asyncio.get_running_loop().time() - self._ping_sent_at
            self._ping_sent_at = 0.0
            self._schedule_ping(self.options.ping_interval_s - elapsed)

    def _ping_overdue(self) -> None:
        if self._closed or self.transport is None:
            return
        self.transport.send_close(WSCloseCode.INTERNAL_ERROR, PING_TIMEOUT_DETAIL.encode())
        self.transport.disconnect(graceful=False)  # the peer may never read again: do not wait for it


def _failing(transport: WSTransport) -> bool:
    """Whether we sent a close frame with an error code first (as websockets, read no more after it)."""
    handshake = transport.close_handshake
    sent = handshake.sent if handshake is not None else None
    return sent is not None and sent.code is not WSCloseCode.OK and not handshake.recv_then_sent


def _picows_closed(transport: WSTransport) -> Closed:
    handshake = transport.close_handshake
    if handshake is None:
        return Closed(close_detail(None, None, False))
    received = (handshake.recv.code.value, handshake.recv.reason) if handshake.recv else None
    sent = (handshake.sent.code.value, handshake.sent.reason) if handshake.sent else None
    ours_first = not handshake.recv_then_sent
    too_big = sent is not None and sent[0] == WSCloseCode.MESSAGE_TOO_BIG.value and ours_first
    return Closed(close_detail(received, sent, ours_first), too_big)


# websockets: a receive loop per connection.


async def _open_websockets(url: str, receiver: Receiver, options: ConnectOptions) -> WebsocketsConnection:
    try:
        ws = await websockets_connect(
            url,
            compression=None,
            open_timeout=options.open_timeout_s,
            close_timeout=options.close_timeout_s,
            max_size=options.max_message_bytes,
            ping_interval=options.ping_interval_s,
            ping_timeout=options.ping_timeout_s,
            additional_headers=dict(options.headers),
        )
    except InvalidStatus as exc:
        raise UpgradeRejected(exc.response.status_code) from exc
    except (OSError, InvalidHandshake) as exc:
        raise ConnectFailed(f"{type(exc).__name__}: {exc}") from exc
    return WebsocketsConnection(ws, receiver)


class WebsocketsConnection:
    """A websockets connection whose messages a receive loop pushes to the receiver."""

    def __init__(self, ws: ClientConnection, receiver: Receiver) -> None:
        self.ws = ws
        self.headers: Mapping[str, str] = ws.response.headers if ws.response else {}
        self._receiving = asyncio.create_task(self._receive(receiver))

    async def _receive(self, receiver: Receiver) -> None:
        try:
            while True:
                receiver.on_message(await self.ws.recv())
        except ConnectionClosed as exc:
            too_big = exc.sent is not None and exc.sent.code == CloseCode.MESSAGE_TOO_BIG
            receiver.on_closed(Closed(str(exc), too_big and not exc.rcvd_then_sent))

    async def send(self, data: str | bytes | memoryview) -> None:
        """Send one message (websockets waits while its buffer is full)."""
        try:
            await self.ws.send(data)
        except ConnectionClosed as exc:
            raise ConnectionLost(str(exc)) from exc

    async def close(self) -> None:
        """Close, then let the receive loop deliver what was still in flight."""
        await self.ws.close()
        await self._receiving
