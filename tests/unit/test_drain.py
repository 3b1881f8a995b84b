"""The preStop drain: reads the replica's own whisperlive_connections_active and waits for 0."""

from __future__ import annotations

import prometheus_client
import pytest
from prometheus_client import CollectorRegistry, Gauge

from whisperlive import drain


def exposition(active: float) -> str:
    registry = CollectorRegistry()
    Gauge("whisperlive_connections_active", "streams", registry=registry).set(active)
    return prometheus_client.generate_latest(registry).decode()


class FakeClock:
    """Time that advances only when the drain sleeps (no real waiting in a unit test)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_active_streams_reads_the_gauge_and_nothing_else():
    assert drain.active_streams(exposition(3)) == 3
    assert drain.active_streams(exposition(0)) == 0
    assert drain.active_streams("whisperlive_connections_total 5\n") is None


def test_it_waits_the_minimum_then_until_the_streams_end():
    bodies = iter([exposition(2), exposition(1), exposition(0)])
    clock = FakeClock()
    reason = drain.drain(lambda: next(bodies), 15, 600, poll_s=2, sleep=clock.sleep, clock=lambda: clock.now)
    assert reason == "no active streams"
    assert clock.sleeps == [15, 2, 2]


@pytest.mark.parametrize(
    ("body", "reason"),
    [(None, "metrics endpoint unreachable: server gone"), ("", "no whisperlive_connections_active")],
)
def test_it_stops_waiting_when_there_is_nothing_to_read(body, reason):
    clock = FakeClock()
    assert drain.drain(lambda: body, 5, 60, sleep=clock.sleep, clock=lambda: clock.now).startswith(reason)
    assert clock.sleeps == [5]


def test_it_gives_up_at_the_timeout():
    clock = FakeClock()
    reason = drain.drain(lambda: exposition(4), 15, 30, poll_s=2, sleep=clock.sleep, clock=lambda: clock.now)
    assert reason == "timeout with 4 stream(s) still active"
    assert clock.now <= 30


def test_the_command_reads_a_real_metrics_endpoint(capsys):
    registry = CollectorRegistry()
    Gauge("whisperlive_connections_active", "streams", registry=registry).set(0)
    server, thread = prometheus_client.start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        assert drain.main(["--metrics-url", url, "--min-wait", "0", "--timeout", "5"]) == 0
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert capsys.readouterr().out == "drain: no active streams\n"
    assert drain.main(["--metrics-url", url, "--min-wait", "0", "--timeout", "1"]) == 0
    assert capsys.readouterr().out == "drain: metrics endpoint unreachable: server gone\n"
