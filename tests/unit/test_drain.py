"""The replica's lifecycle against a real websockets server (no model): health, and the drain that stops
accepting but lets open connections finish, up to the grace period."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from collections.abc import Iterator

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
from websockets.sync.server import Server, ServerConnection, serve

from whisperlive.drain import Drained, Lifecycle, start_status_server
from whisperlive.readiness import check_http


def echo_until_closed(ws: ServerConnection) -> None:
    """A stand-in for upstream's handler: answer every message until the client ends the stream."""
    try:
        for message in ws:
            if message == "END":
                return
            ws.send(message)
    except ConnectionClosed:
        pass


@pytest.fixture
def server() -> Iterator[Server]:
    with serve(echo_until_closed, "127.0.0.1", 0) as ws_server:
        thread = threading.Thread(target=ws_server.serve_forever, daemon=True)
        thread.start()
        yield ws_server
        ws_server.shutdown()


def url(server: Server) -> str:
    return f"ws://127.0.0.1:{server.socket.getsockname()[1]}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_health_follows_the_listener_from_start_to_drain(server):
    lifecycle = Lifecycle(grace_s=5)
    assert lifecycle.health().ready is False and "starting" in lifecycle.health().reason
    lifecycle.attach(server)
    assert lifecycle.health().ready is True
    lifecycle.drain()
    health = lifecycle.health()
    assert (health.ready, health.live, health.reason) == (False, True, "draining: no new streams")


def test_a_drain_refuses_new_connects_and_lets_the_open_stream_finish(server):
    lifecycle = Lifecycle(grace_s=10)
    lifecycle.attach(server)
    address = url(server)
    with connect(address) as stream:
        stream.send("before")
        assert stream.recv(5) == "before"
        result: list[Drained] = []
        drainer = threading.Thread(target=lambda: result.append(lifecycle.drain()))
        drainer.start()
        time.sleep(0.5)
        assert drainer.is_alive()  # the stream is open: the drain waits
        with pytest.raises(ConnectionRefusedError):  # but nothing new gets in
            connect(address, open_timeout=2)
        stream.send("during the drain")
        assert stream.recv(5) == "during the drain"
        stream.send("END")
        drainer.join(5)
    assert not drainer.is_alive()
    assert result[0].ended == 1 and result[0].cut == 0 and result[0].waited_s < 5
    assert "1 stream(s) ended on their own" in result[0].line()


def test_streams_still_open_at_the_grace_period_are_closed_with_1001(server):
    lifecycle = Lifecycle(grace_s=0.5)
    lifecycle.attach(server)
    with connect(url(server)) as stream:
        stream.send("hello")
        stream.recv(5)
        drained = lifecycle.drain()
        with pytest.raises(ConnectionClosed) as closed:
            stream.recv(5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert (drained.ended, drained.cut) == (0, 1)
    assert 0.5 <= drained.waited_s < 4
    assert "1 cut at the grace period (closed with 1001)" in drained.line()


def test_the_status_server_answers_ready_live_and_metrics(server):
    lifecycle = Lifecycle(grace_s=1)
    port = free_port()
    start_status_server("127.0.0.1", port, lifecycle)
    base = f"http://127.0.0.1:{port}"
    starting = check_http(f"{base}/ready", 2)
    assert not starting.ok and starting.reason.startswith("HTTP 503: starting")
    with urllib.request.urlopen(f"{base}/live", timeout=2) as live:
        assert live.status == 200
    lifecycle.attach(server)
    ready = check_http(f"{base}/ready", 2)
    assert ready.ok and ready.reason == "ready: model loaded, accepting, 0 connection(s) open"
    with urllib.request.urlopen(f"{base}/metrics", timeout=2) as metrics:
        assert b"# TYPE " in metrics.read()  # the Prometheus exposition, as before
    lifecycle.drain()
    assert check_http(f"{base}/ready", 2).reason == "HTTP 503: draining: no new streams"
    with urllib.request.urlopen(f"{base}/live", timeout=2) as live:
        assert live.status == 200


def test_an_http_probe_of_nothing_says_why():
    port = free_port()
    answer = check_http(f"http://127.0.0.1:{port}/ready", 2)
    assert (answer.ok, answer.reason) == (False, "connection refused")


def test_a_listener_that_died_without_a_drain_is_not_live(server):
    lifecycle = Lifecycle(grace_s=1)
    lifecycle.attach(server)
    server.shutdown()
    health = lifecycle.health()
    assert (health.ready, health.live, health.reason) == (False, False, "the WebSocket listener is closed")
