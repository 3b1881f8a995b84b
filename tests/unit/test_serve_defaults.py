"""`loadgen serve` listens where the ports table says (its image has no stack/ to import them from)."""

from loadgen.cli.commands import serve
from stack import ports


def test_serve_default_ports_are_the_tables():
    assert serve.CONTROL_PORT == ports.LOADGEN_CONTROL
    assert serve.METRICS_PORT == ports.LOADGEN_METRICS
