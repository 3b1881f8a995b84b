"""The mechanism every collector shares: snapshot, up gauge, one log line per change, self-metrics.

`ScriptedSource` is a test double: a source whose polls succeed or fail as the test says.
"""

from __future__ import annotations

import asyncio
import logging
import time

from prometheus_client import CollectorRegistry

from exporters.exposition import render
from exporters.families import gauge
from exporters.poller import Poller, PollStats, SourceUnavailable
from tests.metrics_text import samples_of


class ScriptedSource:
    name = "scripted"
    up_metric = "exporter_scripted_up"
    up_help = "1 when the scripted source answered."

    def __init__(self, script):
        self.script = list(script)  # values to return, or exceptions to raise, in order
        self.polls = 0

    async def poll(self):
        self.polls += 1
        step = self.script.pop(0) if self.script else 1.0
        if isinstance(step, BaseException):
            raise step
        if step == "hang":
            await asyncio.sleep(3600)
        return step

    def families(self, snapshot):
        return [gauge("scripted_value", "A value.", [({}, snapshot)])]

    async def close(self):
        pass


def _setup(source, interval_s=1.0):
    registry = CollectorRegistry()
    poller = Poller(source, interval_s, PollStats(registry, [source.name, "other"]))
    registry.register(poller)
    return poller, registry


def _scrape(registry):
    return samples_of(render(registry).decode())


def test_before_the_first_poll_up_is_0_and_every_label_set_exists():
    _, registry = _setup(ScriptedSource([]))
    samples = _scrape(registry)
    assert samples[("exporter_scripted_up", ())] == 0
    assert ("scripted_value", ()) not in samples
    for collector in ("scripted", "other"):
        assert samples[("exporter_poll_errors_total", (("collector", collector),))] == 0
        assert samples[("exporter_poll_duration_seconds_count", (("collector", collector),))] == 0
        assert samples[("exporter_last_poll_timestamp_seconds", (("collector", collector),))] == 0


async def test_failure_clears_the_snapshot_and_logs_once_per_change(caplog):
    source = ScriptedSource([5.0, OSError("refused"), SourceUnavailable("nothing"), RuntimeError(), 7.0])
    poller, registry = _setup(source)
    with caplog.at_level(logging.INFO, logger="exporters"):
        await poller.poll_once()
        assert _scrape(registry)[("scripted_value", ())] == 5
        for _ in range(3):
            await poller.poll_once()
        samples = _scrape(registry)
        assert samples[("exporter_scripted_up", ())] == 0
        assert ("scripted_value", ()) not in samples  # no stale value while down
        assert samples[("exporter_poll_errors_total", (("collector", "scripted"),))] == 3
        await poller.poll_once()
    samples = _scrape(registry)
    assert samples[("scripted_value", ())] == 7 and samples[("exporter_scripted_up", ())] == 1
    assert samples[("exporter_poll_duration_seconds_count", (("collector", "scripted"),))] == 5
    assert samples[("exporter_last_poll_timestamp_seconds", (("collector", "scripted"),))] > time.time() - 60
    messages = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in messages] == ["INFO", "WARNING", "INFO"]
    assert "OSError: refused" in messages[1][1]


async def test_run_polls_every_interval_and_a_hung_poll_never_blocks_a_scrape():
    source = ScriptedSource([1.0, 2.0, "hang"])
    poller, registry = _setup(source, interval_s=0.05)
    task = asyncio.create_task(poller.run())
    try:
        await asyncio.sleep(0.3)
        assert source.polls == 3  # the third one hangs
        started = time.perf_counter()
        samples = _scrape(registry)
        assert time.perf_counter() - started < 0.5
        assert samples[("scripted_value", ())] == 2  # the last snapshot until the hung poll ends
    finally:
        task.cancel()
