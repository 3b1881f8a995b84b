"""StreamSession: the asyncio driver of a session, and the only code that touches a WebSocket.

Every decision and measure of a session lives in its `SessionMachine` (`loadgen.core.session_machine`:
connect, options, SERVER_READY, the chunks on the live clock, the settling tail, END_OF_AUDIO, reconnect
with backoff and resume). This layer performs the machine's actions with the WebSocket client
(`loadgen.live.ws_client`) and feeds it what happened, stamped by one clock. A connection's messages reach
the machine from the client's callback as they arrive (no receiver task, no await per message); one timer
per connection carries the ready timeout and the stall watchdog; the sender waits for each chunk on one
future, woken by a timer at its due time or at once when the stream ends.

The clock is one monotonic time source, `time.monotonic` unless another is injected. Not the event loop's
`time()` by default: uvloop's counts whole milliseconds, which would round every lag and slip recorded.

Every handshake has a timeout and the socket sends pings: a paused replica still accepts TCP, only
timeouts reveal it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from loadgen.core.protocol import MAX_MESSAGE_BYTES, REPLICA_HEADER, UPSTREAM_HEADER
from loadgen.core.records import UNKNOWN_REPLICA
from loadgen.core.session_machine import (
    CLOSE,
    CONNECT,
    WAIT,
    ArmTimer,
    ReconnectAfter,
    Send,
    SessionMachine,
    SessionRules,
    SessionTelemetry,
)
from loadgen.core.session_result import SessionResult
from loadgen.core.stream_audio import Chunk, StreamPlan
from loadgen.live.ws_client import (
    DEFAULT_CLIENT,
    Closed,
    ConnectFailed,
    Connection,
    ConnectionLost,
    ConnectOptions,
    UpgradeRejected,
    connect,
)


@dataclass(frozen=True, kw_only=True)
class SessionSettings(SessionRules):
    """How every session of a run connects and streams: the machine's rules, and the connection."""

    url: str
    api_key: str | None = None  # sent as upstream expects it: `Authorization: Bearer KEY`
    ping_interval_s: float = 5.0
    ping_timeout_s: float = 10.0
    ws_client: str = DEFAULT_CLIENT  # the WebSocket library under the session (ws_client.CLIENTS)

    @property
    def headers(self) -> dict[str, str]:
        """Extra headers of the WebSocket upgrade."""
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    @property
    def connect_options(self) -> ConnectOptions:
        """How each connection is opened and kept alive."""
        return ConnectOptions(
            headers=self.headers,
            open_timeout_s=self.open_timeout_s,
            ping_interval_s=self.ping_interval_s,
            ping_timeout_s=self.ping_timeout_s,
            max_message_bytes=MAX_MESSAGE_BYTES,
        )


def serving_replica(header_value: str | None, replica_name: str | None = None) -> str | None:
    """The replica that served the upgrade: the name it announced (`X-Replica`, the pod name on
    Kubernetes), else the balancer's `X-Upstream` address (after a retry it lists several: the last)."""
    if replica_name and replica_name.strip():
        return replica_name.strip()
    if not header_value:
        return None
    return header_value.split(",")[-1].strip() or None


class _Link:
    """The receiver of one connection: its messages and its end go to the machine as they happen."""

    ws: Connection  # set once connected

    def __init__(self, session: StreamSession) -> None:
        self.session = session
        self.machine = session.machine
        self.clock = session.clock
        self.opened = True  # False: the connection never opened, whatever it still reports is ignored

    def on_message(self, data: str | bytes) -> None:
        """A message: to the machine at once, stamped now."""
        if self.machine.message(self.clock(), data):
            self.session.wake()

    def on_closed(self, closed: Closed) -> None:
        """The connection ended."""
        if self.opened:
            self.machine.closed(closed.detail, closed.too_big)
            self.session.wake()


class StreamSession:
    """Streams one plan to the server and records what happened (in `result`)."""

    def __init__(
        self,
        settings: SessionSettings,
        plan: StreamPlan,
        result: SessionResult,
        reference: str | None,
        metrics: SessionTelemetry,
        on_ready: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
        idle: str | None = None,
    ) -> None:
        self.settings = settings
        self.result = result
        self.clock = clock
        self.machine = SessionMachine(
            settings, plan, result, reference, metrics, on_ready, UNKNOWN_REPLICA, idle
        )
        self._link: _Link | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None

    async def run(self) -> SessionResult:
        """Run the session to its end; never raises for anything the server or network does."""
        machine, clock = self.machine, self.clock
        loop = asyncio.get_running_loop()
        link: _Link | None = None  # the open connection
        try:
            while True:
                now = clock()
                action = machine.next_action(now)
                if action is WAIT:  # one future, woken by one timer or by the machine
                    waiter = self._waiter = loop.create_future()
                    wake_at = machine.wake_at
                    handle = None if wake_at is None else loop.call_later(wake_at - now, _wake, waiter)
                    try:
                        await waiter
                    finally:
                        if handle is not None:
                            handle.cancel()
                        self._waiter = None
                elif type(action) is Chunk or type(action) is Send:
                    assert link is not None  # the machine sends on an open connection only
                    try:
                        await link.ws.send(action.data)
                    except ConnectionLost as exc:
                        machine.send_failed(str(exc))
                elif type(action) is ArmTimer:
                    self._arm(loop, action.at - now)
                elif action is CONNECT:
                    link = await self._connect()
                elif action is CLOSE:
                    await self._close()
                    link = None
                elif type(action) is ReconnectAfter:
                    await asyncio.sleep(action.delay_s)
                else:  # FINISH
                    return self.result
        except asyncio.CancelledError:
            machine.cancel()  # we are being stopped: closing is ours, not the server's
            await self._close()  # messages still in flight count until the close completes
            machine.finish()
            raise
        finally:
            self._disarm()

    def wake(self) -> None:
        """Stop the sender's wait now: the machine has something new to do."""
        if self._waiter is not None:
            _wake(self._waiter)

    async def _connect(self) -> _Link | None:
        """Open a connection and tell the machine how it went."""
        settings, machine = self.settings, self.machine
        link = _Link(self)
        try:
            link.ws = await connect(settings.ws_client, settings.url, link, settings.connect_options)
        except UpgradeRejected as exc:
            link.opened = False
            machine.rejected(exc.status)
            return None
        except TimeoutError:
            link.opened = False
            machine.open_timed_out()
            return None
        except ConnectFailed as exc:
            link.opened = False
            machine.connect_failed(str(exc))
            return None
        connected_at = self.clock()
        self._link = link
        headers = link.ws.headers
        replica = serving_replica(headers.get(UPSTREAM_HEADER), headers.get(REPLICA_HEADER))
        machine.connected(connected_at, replica)
        return link

    async def _close(self) -> None:
        """Close the connection (its last messages still reach the machine) and stop its timer."""
        self._disarm()
        link = self._link
        if link is not None:
            await link.ws.close()
            self._link = None

    def _arm(self, loop: asyncio.AbstractEventLoop, delay: float) -> None:
        """(Re)arm the connection's one timer."""
        self._disarm()
        self._timer = loop.call_later(delay, self._timer_due, loop)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timer_due(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        now = self.clock()
        machine = self.machine
        if machine.timer_due(now):
            self.wake()
        if machine.timer_at is not None:
            self._timer = loop.call_later(machine.timer_at - now, self._timer_due, loop)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
