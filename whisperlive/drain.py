"""`python -m whisperlive.drain`: wait until a replica's streams have ended (a Kubernetes preStop hook).

The pod has already left the headless Service when the hook starts; `--min-wait` covers the balancer's
resolver validity (no new streams after it), then the hook polls the replica's own
`whisperlive_connections_active` until it is 0 or `--timeout` passes. It always exits 0: a preStop hook
that fails only delays the pod's end, and an unreadable endpoint means the server is gone anyway.
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence

from prometheus_client.parser import text_string_to_metric_families

ACTIVE = "whisperlive_connections_active"


def active_streams(exposition: str) -> float | None:
    """The summed `whisperlive_connections_active` of a /metrics body; None when it is not there."""
    values = [
        sample.value
        for family in text_string_to_metric_families(exposition)
        if family.name == ACTIVE
        for sample in family.samples
        if sample.name == ACTIVE
    ]
    return sum(values) if values else None


def fetch(url: str, timeout_s: float = 5.0) -> str | None:
    """The body at `url`, or None when it cannot be read."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.read().decode()
    except (urllib.error.URLError, OSError, ValueError):
        return None


def drain(
    read: Callable[[], str | None],
    min_wait_s: float,
    timeout_s: float,
    poll_s: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """Wait `min_wait_s`, then until no stream is active (or `timeout_s` from the start); say why it ended."""
    deadline = clock() + timeout_s
    sleep(min(min_wait_s, timeout_s))
    while True:
        body = read()
        if body is None:
            return "metrics endpoint unreachable: server gone"
        active = active_streams(body)
        if active is None:
            return f"no {ACTIVE} in the metrics: nothing to wait for"
        if active <= 0:
            return "no active streams"
        if clock() + poll_s > deadline:
            return f"timeout with {active:g} stream(s) still active"
        sleep(poll_s)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse flags, drain, print one line; always 0 (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m whisperlive.drain", description=__doc__.splitlines()[0])
    parser.add_argument("--metrics-url", default="http://127.0.0.1:9091/metrics", help="(%(default)s)")
    parser.add_argument("--min-wait", type=float, default=15.0, metavar="S", help="(%(default)g)")
    parser.add_argument("--timeout", type=float, default=600.0, metavar="S", help="(%(default)g)")
    args = parser.parse_args(argv)
    reason = drain(lambda: fetch(args.metrics_url), args.min_wait, args.timeout)
    print(f"drain: {reason}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
