"""The pure core: values in, values out; no asyncio, sockets, subprocesses, files or clocks of its own.

Wire protocol, the live clock, stream audio, the transcript tracker, KPI maths, schedules, reconnect
arithmetic, measurement windows, verdicts, the knee search, shard arithmetic, latency histograms, the
session machine and the typed records that cross module boundaries. import-linter keeps it so.
"""
