"""Benchmarks (never part of CI's pass/fail): `make bench` or `python -m bench.run_all`."""
