"""Benchmark: the most concurrent real-time streams one core carries with send slip p99 ≤ 20 ms.

Side by side, each on a ladder of client counts (stopping at the first count that fails), with the
generator pinned to core 0 and the sink to core 1 (`taskset`):

- `ours`: `loadgen run --mode continuous` with every measurement on (tracker, lag and slip histograms,
  JSONL, /metrics scraped every 5 s like Prometheus), on uvloop with its default WebSocket client
  (picows); `ours-websockets` the same with `--ws-client websockets`; `ours-asyncio` on asyncio;
- `naive`: `bench.naive_client` (send, then `sleep(chunk)`), slips against the ideal schedule;
- `upstream`: `bench.upstream_client` (`whisper_live.client`, two threads per client), bounded.

A step passes when every client streamed and the steady-state slip p99 is ≤ 20 ms: the sends due while
all N clients stream, from 1 s after the last one got SERVER_READY until the first one stops (ours stream
the same length from their own start, so they stop one after another at the connect rate: those endings
are fewer than N streams; the anchors' clients all stop at one deadline). The sink is `bench.sink` (its
CPU and its own timer lateness are reported for every step); `--sink-check` then runs `ours` at its best
count against `loadgen simulate` to show why the simulator is not used as the sink. Memory per stream is
the slope of the generator's resident memory against the client count over the passing steps.

    python -m bench.streams_per_core [--clients ours,ours-websockets,naive,upstream] [--hold 12]
        [--budget 150] [--top N] [--sink-check] [--out runs/bench/spc.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import psutil

from bench.procs import (
    GENERATOR_CORE,
    SERVER_CORE,
    CpuMeter,
    free_port,
    load_average,
    pinned,
    python_module,
    rss_bytes,
    wait_listening,
)
from bench.stats import bytes_per_stream, first_speech_end, quantile_ms, session_slips, steady_slips
from loadgen.data.results_file import read_results

CHUNK_S = 0.256
SLIP_P99_TARGET_MS = 20.0
SIMULATOR_LAG_S = 0.1
STARTUP_S = 3.0  # interpreter start and corpus load, before the first connection
LADDERS = {
    "ours": (1000, 2000, 2500, 3000, 3500, 4000, 4500, 5000, 6000),
    "ours-websockets": (1000, 2000, 2500, 3000, 3500, 4000),
    "ours-asyncio": (500, 1000, 1500, 2000, 3000),
    "naive": (50, 100, 250, 500, 1000, 2000),
    "upstream": (100, 200, 300, 400, 800),  # two OS threads per client: bounded
}
CONNECT_RATE = {"upstream": 200.0}  # per second; the others connect at --connect-rate


@dataclass
class Step:
    """One client count of one generator."""

    client: str
    clients: int
    streams: int  # clients that got SERVER_READY
    failures: int
    slip_p50_ms: float | None
    slip_p99_ms: float | None
    slip_samples: int
    generator_cpu: float  # fraction of its core over the steady window
    generator_rss_bytes: int
    sink: str
    sink_cpu: float
    sink_lateness_p99_ms: float | None
    transcript_lag_p99_ms: float | None = None  # ours only: every lag sample of the run
    wake_lateness_p99_ms: float | None = None  # anchors only: the drift's increment per send
    passed: bool = False


def _scrape_every(port: int, stop: threading.Event, period_s: float = 5.0) -> None:
    """GET /metrics like Prometheus would, until `stop`."""
    while not stop.wait(period_s):
        with contextlib.suppress(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()


def generator_command(client: str, port: int, clients: int, duration_s: float, rate: float,
                      workdir: Path) -> list[str]:
    """The command line of one generator at one client count."""
    if client.startswith("ours"):
        loop = "asyncio" if client == "ours-asyncio" else "auto"
        ws_client = ["--ws-client", "websockets"] if client == "ours-websockets" else []
        return python_module(
            "loadgen", "run", "--port", str(port), "--audio-dir", "test_audio/corpus", "--mode", "continuous",
            "--duration", f"{duration_s:g}", "--num-clients", str(clients), "--connect-rate", f"{rate:g}",
            "--settle", "0.5", "--max-tail", "1", "--event-loop", loop,
            "--output-file", str(workdir / f"{client}-{clients}.jsonl"),
            "--metrics-port", str(free_port()), *ws_client,
        )
    out = str(workdir / f"{client}-{clients}.npz")
    common = ["--num-clients", str(clients), "--duration", f"{duration_s:g}", "--connect-rate", f"{rate:g}",
              "--out", out]
    if client == "naive":
        return python_module("bench.naive_client", "--url", f"ws://127.0.0.1:{port}", *common)
    return python_module("bench.upstream_client", "--port", str(port), *common)


def _metrics_port(command: list[str]) -> int | None:
    return int(command[command.index("--metrics-port") + 1]) if "--metrics-port" in command else None


def sink_command(sink: str, port: int, stats: Path) -> list[str]:
    """The sink: the bench sink, or the simulator (no injected overload, 100 ms lag)."""
    if sink == "simulator":
        return python_module("loadgen", "simulate", "--port", str(port), "--audio-dir", "test_audio/corpus",
                             "--capacity", "1000000", "--base-lag", str(SIMULATOR_LAG_S),
                             "--max-clients", "1000000")
    return python_module("bench.sink", "--port", str(port), "--stats", str(stats))


def run_step(
    client: str, clients: int, hold_s: float, rate: float, workdir: Path, sink: str = "sink"
) -> Step:
    """Start the sink and the generator, measure the steady window, collect the slips."""
    port = free_port()
    stats = workdir / f"{sink}-{client}-{clients}.json"
    stats.unlink(missing_ok=True)
    ramp_s = clients / rate
    duration_s = ramp_s + hold_s
    command = generator_command(client, port, clients, duration_s, rate, workdir)
    with pinned(SERVER_CORE, sink_command(sink, port, stats)) as server:
        wait_listening(port, server)
        sink_meter = CpuMeter(psutil.Process(server.pid))
        stop = threading.Event()
        with pinned(GENERATOR_CORE, command, workdir / f"{client}-{clients}.log") as generator:
            metrics_port = _metrics_port(command)
            if metrics_port:
                threading.Thread(target=_scrape_every, args=(metrics_port, stop), daemon=True).start()
            meter = CpuMeter(psutil.Process(generator.pid))
            time.sleep(STARTUP_S + ramp_s + 1.0)
            meter.start()
            sink_meter.start()
            rss = []
            window_end = time.monotonic() + max(1.0, hold_s - 2.0)
            while time.monotonic() < window_end:
                rss.append(rss_bytes(generator.pid))
                time.sleep(0.5)
            generator_cpu, sink_cpu = meter.fraction(), sink_meter.fraction()
            generator.wait(timeout=duration_s + 120)
            stop.set()
    step = Step(client, clients, 0, 0, None, None, 0, generator_cpu, int(np.median(rss)), sink, sink_cpu,
                None)
    _collect(step, workdir)
    if stats.exists():
        step.sink_lateness_p99_ms = json.loads(stats.read_text())["lateness_p99_s"] * 1000
    elif step.transcript_lag_p99_ms is not None:  # the simulator: lag beyond the 100 ms it injects
        step.sink_lateness_p99_ms = step.transcript_lag_p99_ms - SIMULATOR_LAG_S * 1000
    step.passed = (step.failures == 0 and step.streams == clients and step.slip_p99_ms is not None
                   and step.slip_p99_ms <= SLIP_P99_TARGET_MS)
    return step


def _collect(step: Step, workdir: Path) -> None:
    """Slips (and, for ours, lags and outcomes) from what the generator wrote."""
    name = f"{step.client}-{step.clients}"
    if step.client.startswith("ours"):
        results, _ = read_results(workdir / f"{name}.jsonl")
        t0s, pairs = session_slips(results, CHUNK_S)
        until = first_speech_end(results)
        step.failures = sum(r.outcome != "ok" for r in results) + step.clients - len(results)
        lags = np.array([lag for r in results for lag in r.transcript_lags_s])
        step.transcript_lag_p99_ms = quantile_ms(lags, 99)
    else:
        data = np.load(workdir / f"{name}.npz")
        t0s, pairs, step.failures = data["t0s"], data["slips"], int(data["failures"])
        until = math.inf  # every client stops at one deadline
        step.wake_lateness_p99_ms = quantile_ms(steady_slips(t0s, pairs, column=2), 99)
    steady = steady_slips(t0s, pairs, until=until)
    step.streams = len(t0s)
    step.slip_p50_ms, step.slip_p99_ms = quantile_ms(steady, 50), quantile_ms(steady, 99)
    step.slip_samples = len(steady)


def ladder(
    client: str, hold_s: float, rate: float, workdir: Path, budget_s: float, top: int | None = None
) -> list[Step]:
    """Climb until a step fails, the time budget is spent or the next count is above `top`."""
    steps: list[Step] = []
    deadline = time.monotonic() + budget_s
    for clients in LADDERS[client]:
        if time.monotonic() > deadline or (top is not None and clients > top):
            break
        step = run_step(client, clients, hold_s, CONNECT_RATE.get(client, rate), workdir)
        steps.append(step)
        print(_row(step), flush=True)
        if not step.passed:
            break
    return steps


def _row(step: Step) -> str:
    lag = f" lag p99 {step.transcript_lag_p99_ms:.0f} ms" if step.transcript_lag_p99_ms is not None else ""
    if step.wake_lateness_p99_ms is not None:
        lag = f" wake lateness p99 {step.wake_lateness_p99_ms:.1f} ms"
    return (f"{step.client:>12} {step.clients:>5} streams {step.streams:>5} fail {step.failures:>3} "
            f"slip p50/p99 {step.slip_p50_ms or 0:.1f}/{step.slip_p99_ms or 0:.1f} ms  cpu "
            f"{step.generator_cpu:.0%}  rss {step.generator_rss_bytes / 2**20:.0f} MiB  {step.sink} cpu "
            f"{step.sink_cpu:.0%} late p99 {step.sink_lateness_p99_ms or 0:.1f} ms{lag}  "
            f"{'PASS' if step.passed else 'FAIL'}")


def summary(steps: list[Step]) -> dict[str, dict[str, object]]:
    """Per generator: the best passing count and the resident memory per stream."""
    out: dict[str, dict[str, object]] = {}
    for client in dict.fromkeys(s.client for s in steps):
        mine = [s for s in steps if s.client == client and s.sink == "sink"]
        passing = [s for s in mine if s.passed]
        out[client] = {
            "streams_per_core": max((s.clients for s in passing), default=0),
            "first_failing": next((s.clients for s in mine if not s.passed), None),
            "bytes_per_stream": bytes_per_stream([(s.streams, s.generator_rss_bytes) for s in passing]),
        }
    return out


def main() -> int:
    """Run the ladders, writing the JSON after each one (a time limit keeps what was measured)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="ours,ours-websockets,naive,upstream")
    parser.add_argument("--hold", type=float, default=12.0, help="seconds every client streams at once")
    parser.add_argument("--connect-rate", type=float, default=500.0)
    parser.add_argument("--budget", type=float, default=150.0, help="seconds per ladder before it stops")
    parser.add_argument(
        "--top", type=int, metavar="N", help="no step above N clients (make bench's short ladders)"
    )
    parser.add_argument(
        "--sink-check", action="store_true", help="ours at its best count against the simulator"
    )
    parser.add_argument("--out", type=Path, default=Path("runs/bench/streams_per_core.json"))
    args = parser.parse_args()
    workdir = args.out.parent / "streams_per_core"
    workdir.mkdir(parents=True, exist_ok=True)
    header = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "load_average_before": load_average(), "cpus": psutil.cpu_count(), "hold_s": args.hold,
              "connect_rate": args.connect_rate}
    steps: list[Step] = []
    for client in args.clients.split(","):
        steps += ladder(client, args.hold, args.connect_rate, workdir, args.budget, args.top)
        _write(args.out, header, steps)
    best = summary(steps).get("ours", {}).get("streams_per_core")
    if args.sink_check and isinstance(best, int) and best:
        check = run_step("ours", best, args.hold, args.connect_rate, workdir, sink="simulator")
        print(_row(check), flush=True)
        steps.append(check)
        _write(args.out, header, steps)
    print(json.dumps(summary(steps), indent=1))
    return 0


def _write(path: Path, header: dict[str, object], steps: list[Step]) -> None:
    path.write_text(json.dumps({**header, "load_average_after": load_average(), "summary": summary(steps),
                                "steps": [asdict(s) for s in steps]}, indent=1))


if __name__ == "__main__":
    raise SystemExit(main())
