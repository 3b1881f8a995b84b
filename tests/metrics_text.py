"""Reading Prometheus text exposition in tests, with names exactly as exposed.

(prometheus_client's parser would rename a counter sample `x` to `x_total`, hiding the exact names the
nginx and DCGM families must keep.)
"""

from __future__ import annotations

import re

_SAMPLE = re.compile(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def samples_of(text: str) -> dict[tuple[str, tuple], float]:
    """(name, sorted labels) -> value of every sample line."""
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            match = _SAMPLE.fullmatch(line)
            assert match, line
            name, labels, value = match.groups()
            samples[(name, tuple(sorted(_LABEL.findall(labels or ""))))] = float(value)
    return samples
