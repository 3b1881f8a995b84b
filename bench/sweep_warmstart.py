"""Benchmark: a sweep's warm start against independent searches (docs/PERFORMANCE.md, docs/SWEEP.md).

The same K-configuration matrix of simulated replicas with known knees (single mode: `--single` streams
per replica, batch: `--batch` per replica, times 1..`--replicas` replicas) swept twice by `loadgen
sweep --target simulator`: cold (`--no-warm-start`, every configuration an independent adaptive search)
and warm (each search from a bracket predicted by the knees already found). Prints each sweep's wall time
and each knee against the truth; the goal is warm <= 1/2 of cold, each knee within 1. Short holds
(1 s warm-up, 2 s hold). Not part of `make bench`: `make bench-sweep` (about 6 minutes).

    python -m bench.sweep_warmstart [--single 2] [--batch 6] [--replicas 3] [--out runs/bench/sweep_warmstart]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.procs import REPO, load_average, python_module
from loadgen.core.matrix import ServerSettings
from loadgen.sweep.targets import SimulatorModel
from stack.ports import free_base_port
from test_audio.generate import DEFAULT_OUT, generate

RAMP = ["--mode", "continuous", "--warmup", "1", "--hold", "2", "--connect-rate", "20", "--settle", "0.5"]


def matrix_toml(corpus: Path, single: int, batch: int, replicas: int) -> str:
    """The benchmark's matrix: single vs batch x 1..replicas, simulated with these capacities."""
    ramp = ", ".join(json.dumps(a) for a in ["--audio-dir", str(corpus), *RAMP])
    return (
        f'[sweep]\ntarget = "simulator"\nready_timeout = 30\n[ramp]\nargs = [{ramp}]\n'
        f'[server]\nmode = ["single", "batch"]\nbatch_max_size = {batch}\n'
        f"replicas = {list(range(1, replicas + 1))}\n"
        f"[simulator]\ncapacity = {single}\nbase_lag_s = 0.1\nper_stream_lag_s = 1.0\n"
        f'audio_dir = "{corpus}"\n'
    )


def sweep(matrix: Path, out: Path, warm: bool) -> tuple[float, dict[str, Any]]:
    """One sweep in a subprocess: its wall time and its sweep.json."""
    flags = [] if warm else ["--no-warm-start"]
    argv = python_module("loadgen", "sweep", "--matrix", str(matrix), "--out", str(out), *flags)
    started = time.monotonic()
    with (out.parent / f"{out.name}.log").open("w") as log:
        code = subprocess.run(
            [*argv, "--base-port", str(free_base_port(3))], cwd=REPO, stdout=log, stderr=subprocess.STDOUT
        ).returncode
    wall = time.monotonic() - started
    if code != 0:
        raise SystemExit(
            f"sweep_warmstart: the {out.name} sweep exited {code}; see {out.parent / out.name}.log"
        )
    return wall, json.loads((out / "sweep.json").read_text())


def ramp_seconds(config: dict[str, Any], out: Path) -> float:
    """The seconds its ramp's judged steps took (connect, warm-up, hold), without deploy and restarts."""
    lines = (out / config["run_dir"] / "steps.jsonl").read_text().splitlines()
    steps = [json.loads(line) for line in lines if line.strip()]
    return sum(s["ended_at"] - s["started_at"] for s in steps)


def table(cold: dict[str, Any], warm: dict[str, Any], truth: dict[str, int], dirs: Sequence[Path]) -> str:
    """One line per configuration: the truth, and each sweep's knee, steps and seconds."""
    lines = [
        "| config | true knee | cold: knee, steps, ramp s | warm: bracket, knee, steps, ramp s |",
        "|---|---|---|---|",
    ]
    for c, w in zip(cold["configs"], warm["configs"], strict=True):
        bracket = ",".join(map(str, w["bracket"])) if w["bracket"] else "cold"
        lines.append(
            f"| {c['id']} | {truth[c['id']]} | "
            f"{c['capacity']}, {c['steps']}, {ramp_seconds(c, dirs[0]):.0f} | "
            f"{bracket}, {w['capacity']}, {w['steps']}, {ramp_seconds(w, dirs[1]):.0f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Cold, then warm; the table and the ratios printed and written under --out. Exit 1 when a knee is
    off by more than 1."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--single", type=int, default=2, help="streams per single-mode replica (2)")
    parser.add_argument("--batch", type=int, default=6, help="streams per batch replica (6)")
    parser.add_argument("--replicas", type=int, default=3, help="replica counts 1..N (3)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench/sweep_warmstart"))
    args = parser.parse_args(argv)
    out = (args.out / time.strftime("%Y%m%d-%H%M%S", time.gmtime())).resolve()
    out.mkdir(parents=True)
    generate(DEFAULT_OUT)
    corpus = DEFAULT_OUT.resolve()
    matrix = out / "matrix.toml"
    matrix.write_text(matrix_toml(corpus, args.single, args.batch, args.replicas))
    model = SimulatorModel(capacity=args.single)
    load_before = load_average()
    cold_s, cold = sweep(matrix, out / "cold", warm=False)
    warm_s, warm = sweep(matrix, out / "warm", warm=True)
    truth = {c["id"]: model.knee(ServerSettings.from_json(c["server"])) for c in cold["configs"]}
    text = table(cold, warm, truth, (out / "cold", out / "warm"))
    ramps = [
        sum(ramp_seconds(c, out / name) for c in s["configs"]) for name, s in (("cold", cold), ("warm", warm))
    ]
    steps = [sum(c["steps"] for c in s["configs"]) for s in (cold, warm)]
    off = [
        c["id"] for s in (cold, warm) for c in s["configs"] if abs((c["capacity"] or 0) - truth[c["id"]]) > 1
    ]
    summary = (
        f"{len(truth)} configurations; wall time cold {cold_s:.0f} s, warm {warm_s:.0f} s: "
        f"ratio {warm_s / cold_s:.2f} (goal <= 0.5)\n"
        f"ramps only (judged steps, without restarts): cold {ramps[0]:.0f} s, warm {ramps[1]:.0f} s: "
        f"ratio {ramps[1] / ramps[0]:.2f}; steps {steps[0]} vs {steps[1]}\n"
        f"knees within 1 of the truth: {'all' if not off else 'not ' + ', '.join(off)}; "
        f"best: cold {cold['best']}, warm {warm['best']}; load average before {load_before}, "
        f"after {load_average()}"
    )
    print(f"{text}\n\n{summary}\nresults in {out}")
    (out / "sweep_warmstart.md").write_text(f"{text}\n\n{summary}\n")
    return 1 if off else 0


if __name__ == "__main__":
    raise SystemExit(main())
