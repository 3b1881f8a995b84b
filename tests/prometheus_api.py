"""Prometheus's HTTP API for the integration tests: instant and range queries, and what a panel draws."""

from __future__ import annotations

import json
import math
import urllib.parse
import urllib.request


def get_json(url: str) -> object:
    """GET `url` and decode its JSON body."""
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def _result(prometheus_url: str, path: str, params: dict[str, str]) -> list[dict]:
    body = get_json(f"{prometheus_url}/api/v1/{path}?{urllib.parse.urlencode(params)}")
    assert isinstance(body, dict) and body["status"] == "success", body
    return body["data"]["result"]


def query(prometheus_url: str, expr: str, at: float | None = None) -> list[dict]:
    """The instant vector of `expr` now, or at the Unix time `at`."""
    params = {"query": expr} if at is None else {"query": expr, "time": f"{at:.3f}"}
    return _result(prometheus_url, "query", params)


def query_range(prometheus_url: str, expr: str, start: float, end: float, step_s: float = 5) -> list[dict]:
    """`expr` over [start, end] every `step_s` (the scrape interval), as a Grafana panel asks for it."""
    params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step_s:g}"}
    return _result(prometheus_url, "query_range", params)


def finite_points(result: list[dict]) -> list[tuple[float, float]]:
    """(time, value) of every point of a range result a panel would draw (NaN draws nothing)."""
    points = ((float(t), float(v)) for series in result for t, v in series["values"])
    return [(t, v) for t, v in points if not math.isnan(v)]
