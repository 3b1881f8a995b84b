"""stub_status text -> nginx-prometheus-exporter's samples (pure)."""

from __future__ import annotations

import pytest

from exporters.nginx_status import StubStatus, nginx_families, parse_stub_status

PAGE = (
    "Active connections: 291 \n"
    "server accepts handled requests\n"
    " 16630948 16630947 31070465 \n"
    "Reading: 6 Writing: 179 Waiting: 106 \n"
)


def test_parse_a_stub_status_page():
    assert parse_stub_status(PAGE) == StubStatus(
        active=291, accepted=16630948, handled=16630947, requests=31070465,
        reading=6, writing=179, waiting=106,
    )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "<html><body>404 Not Found</body></html>",
        PAGE.replace("31070465", "many"),
        PAGE.replace("Reading: 6 ", ""),
        PAGE + "extra trailing text",
        "Active connections: 1\n",
    ],
)
def test_anything_but_a_stub_status_page_is_a_value_error(text):
    with pytest.raises(ValueError, match="stub_status"):
        parse_stub_status(text)


def test_samples_have_the_nginx_exporter_names_types_and_values():
    families = {f.name: f for f in nginx_families(parse_stub_status(PAGE))}
    samples = {s.name: s.value for f in families.values() for s in f.samples}
    assert samples == {
        "nginx_connections_active": 291,
        "nginx_connections_accepted": 16630948,
        "nginx_connections_handled": 16630947,
        "nginx_connections_reading": 6,
        "nginx_connections_writing": 179,
        "nginx_connections_waiting": 106,
        "nginx_http_requests_total": 31070465,
    }
    types = {name: f.type for name, f in families.items()}
    assert types["nginx_connections_accepted"] == types["nginx_connections_handled"] == "counter"
    assert types["nginx_http_requests"] == "counter"
    assert types["nginx_connections_active"] == types["nginx_connections_waiting"] == "gauge"
