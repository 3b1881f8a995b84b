"""Benchmark: measurement accuracy. |measured - injected| transcript lag at 1,000 streams.

`loadgen simulate` (core 1) answers every audio frame exactly `--lag` seconds after it arrived, with no
overload term; `loadgen run` (core 0, every measurement on) streams to it. Whatever the generator reports
beyond the injected lag is its own error (send slip, receive delay) plus the simulator's lateness, so the
difference bounds the measurement error from above. The same run against `bench.sink --lag` (which
records how late its own answers left) separates the server's lateness from the generator's error.

    python -m bench.accuracy [--clients 1000] [--lag 0.5] [--hold 20] [--out runs/bench/accuracy.json]
"""

from __future__ import annotations

import argparse
import json
import time
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
    wait_listening,
)
from bench.streams_per_core import generator_command, sink_command
from loadgen.data.results_file import read_results

TARGET_MS = 10.0


def server_command(server: str, port: int, lag_s: float, stats: Path) -> list[str]:
    """The simulator with its lag set, or the bench sink answering every frame `lag_s` late."""
    if server == "simulator":
        command = sink_command("simulator", port, stats)
        command[command.index("--base-lag") + 1] = f"{lag_s:g}"
        return command
    return python_module("bench.sink", "--port", str(port), "--every", "1", "--lag", f"{lag_s:g}", "--stats",
                         str(stats))


def measure(
    server_kind: str, clients: int, lag_s: float, hold_s: float, rate: float, workdir: Path
) -> dict[str, object]:
    """One run; the measured lag quantiles against the injected lag."""
    port = free_port()
    duration_s = clients / rate + hold_s
    command = generator_command("ours", port, clients, duration_s, rate, workdir)
    stats = workdir / f"{server_kind}.json"
    stats.unlink(missing_ok=True)
    serving = server_command(server_kind, port, lag_s, stats)
    with pinned(SERVER_CORE, serving, workdir / f"{server_kind}.log") as server:
        wait_listening(port, server)
        meter = CpuMeter(psutil.Process(server.pid))
        meter.start()
        with pinned(GENERATOR_CORE, command, workdir / "generator.log") as generator:
            generator.wait(timeout=duration_s + 120)
        server_cpu = meter.fraction()
    results, _ = read_results(workdir / f"ours-{clients}.jsonl")
    lags = np.array([lag for r in results for lag in r.transcript_lags_s])
    slips = np.array([s for r in results for s in r.send_slips_s])
    row: dict[str, object] = {
        "server": server_kind,
        "clients": clients,
        "ok_sessions": sum(r.outcome == "ok" for r in results),
        "injected_ms": lag_s * 1000,
        "lag_samples": len(lags),
        "server_cpu": server_cpu,
        "slip_p99_ms": float(np.percentile(slips, 99) * 1000),
    }
    for q in (50, 95):
        measured = float(np.percentile(lags, q) * 1000)
        row[f"p{q}_measured_ms"] = measured
        row[f"p{q}_error_ms"] = abs(measured - lag_s * 1000)
    row["passed"] = all(float(row[f"p{q}_error_ms"]) <= TARGET_MS for q in (50, 95))  # type: ignore[arg-type]
    if stats.exists():  # the sink's own lateness: the part of the error that is not the generator's
        late = json.loads(stats.read_text())
        row.update({f"{k[:-2]}_ms": v * 1000 for k, v in late.items() if k.startswith("answer_late")})
    return row


def main() -> int:
    """Run once and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--lag", type=float, default=0.5, help="injected lag in seconds")
    parser.add_argument("--hold", type=float, default=20.0)
    parser.add_argument("--connect-rate", type=float, default=250.0)
    parser.add_argument("--out", type=Path, default=Path("runs/bench/accuracy.json"))
    args = parser.parse_args()
    workdir = args.out.parent / "accuracy"
    workdir.mkdir(parents=True, exist_ok=True)
    load_before = load_average()
    rows = [measure(server, args.clients, args.lag, args.hold, args.connect_rate, workdir)
            for server in ("simulator", "sink")]
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "load_average_before": load_before,
              "load_average_after": load_average(), "runs": rows}
    args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
