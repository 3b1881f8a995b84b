"""Benchmark: search efficiency. Adaptive search vs a linear sweep against simulators with known knees.

`loadgen simulate` (core 1) serves `--base-lag` up to its `--capacity` (the knee) and a steep extra lag
per stream beyond, so every step's verdict is unambiguous under the SLO in between. `loadgen ramp`
(core 0) finds the knee twice against a fresh simulator each time: with its default adaptive schedule,
and with a linear sweep `--steps 1,2,3,...` that stops at the first failing step (the cheapest a linear
sweep can be: `--keep-going` would only add steps past the knee). Short holds, continuous sessions.
Target: both find the knee within +-1 client, the adaptive search in at most 1/3 of the sweep's wall time.

    python -m bench.search_efficiency [--knees 40,64] [--out runs/bench/search_efficiency.json]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.procs import GENERATOR_CORE, SERVER_CORE, free_port, pinned, python_module, wait_listening

BASE_LAG_S, PER_STREAM_LAG_S, SLO_S = 0.1, 1.0, 0.5  # one client past the knee: 1.1 s > SLO > 0.1 s
RAMP_FLAGS = ("--mode", "continuous", "--warmup", "0.5", "--hold", "2", "--connect-rate", "200",
              "--settle", "0.5", "--slo", str(SLO_S), "--no-live")
TARGET_RATIO, TARGET_ERROR = 1 / 3, 1


def simulator_command(port: int, knee: int) -> list[str]:
    """The simulator with its knee at `knee` streams."""
    return python_module("loadgen", "simulate", "--port", str(port), "--audio-dir", "test_audio/corpus",
                         "--capacity", str(knee), "--base-lag", str(BASE_LAG_S),
                         "--per-stream-lag", str(PER_STREAM_LAG_S), "--max-clients", "100000")


def linear_steps(knee: int) -> str:
    """1, 2, 3, ... up to twice the knee (the sweep stops one past the knee)."""
    return ",".join(str(n) for n in range(1, 2 * knee + 1))


@dataclass(frozen=True)
class Found:
    """What one search found, in how many steps and how much wall time."""

    capacity: int | None
    steps: int
    wall_s: float


def search(knee: int, schedule: list[str], workdir: Path, name: str) -> Found:
    """One ramp against a fresh simulator: the capacity it found, its steps and its wall time."""
    port = free_port()
    run_dir = workdir / f"{name}-{knee}"
    command = python_module("loadgen", "ramp", "--url", f"ws://127.0.0.1:{port}", "--audio-dir",
                            "test_audio/corpus", "--run-dir", str(run_dir), *RAMP_FLAGS, *schedule)
    log = workdir / f"simulator-{name}-{knee}.log"
    with pinned(SERVER_CORE, simulator_command(port, knee), log) as server:
        wait_listening(port, server)
        started = time.monotonic()
        with pinned(GENERATOR_CORE, command, workdir / f"{name}-{knee}.log") as ramp:
            ramp.wait(timeout=600)
        wall_s = time.monotonic() - started
    manifest = json.loads((run_dir / "run.json").read_text())
    steps = len((run_dir / "steps.jsonl").read_text().splitlines())
    return Found(manifest["outcome"]["capacity"], steps, round(wall_s, 1))


def compare(knee: int, workdir: Path) -> dict[str, object]:
    """Adaptive vs linear for one knee, and whether the targets are met."""
    adaptive = search(knee, [], workdir, "adaptive")
    linear = search(knee, ["--steps", linear_steps(knee)], workdir, "linear")
    ratio = adaptive.wall_s / linear.wall_s
    found = all(r.capacity is not None and abs(r.capacity - knee) <= TARGET_ERROR for r in (adaptive, linear))
    return {"knee": knee, "adaptive": asdict(adaptive), "linear": asdict(linear), "ratio": round(ratio, 3),
            "pass": found and ratio <= TARGET_RATIO}


def main() -> int:
    """Each knee in turn: a line and the JSON under --out after each; exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--knees", default="40,64", help="simulator capacities (default 40,64)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench/search_efficiency.json"))
    args = parser.parse_args()
    workdir = args.out.parent / "search_efficiency"
    workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    for knee in (int(k) for k in args.knees.split(",")):
        row = compare(knee, workdir)
        a, b = row["adaptive"], row["linear"]
        assert isinstance(a, dict) and isinstance(b, dict)
        print(f"knee {knee}: adaptive found {a['capacity']} in {a['wall_s']} s ({a['steps']} steps), "
              f"linear found {b['capacity']} in {b['wall_s']} s ({b['steps']} steps): "
              f"ratio {row['ratio']:.2f} (target <= {TARGET_RATIO:.2f}) {'PASS' if row['pass'] else 'FAIL'}",
              flush=True)
        rows.append(row)
        args.out.write_text(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                        "base_lag_s": BASE_LAG_S, "per_stream_lag_s": PER_STREAM_LAG_S,
                                        "slo_s": SLO_S, "ramp_flags": RAMP_FLAGS, "knees": rows}, indent=1))
    return 0 if all(r["pass"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
