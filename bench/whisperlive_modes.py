"""Benchmark: the WhisperLive-side figure. The local 3-replica `tiny.en` stack on this machine's cores,
single-model vs batch mode, judged by the same `loadgen ramp` as the demo.

A thin call of `loadgen sweep` (docs/SWEEP.md), one sweep directory per mode: its matrix is the demo's
replicas (3, `tiny.en`, `--max-clients 4`, `--omp-threads 1`) with the mode's settings, its ramp the demo's
(cpu profile, 10 s warm-up, 30 s holds, the same explicit steps for every mode) on free ports. The sweep
brings the local stack up, waits for a handshake, ramps and stops the stack; the verdict comes from the
ramp's summary.json, the multi-stream batches from the replicas' logs. Prints and writes a side-by-side
table (JSON and markdown): capacity, p95 lag and WER per step, CPU of the replicas, the sessions'
outcomes (a refusal or error says what it was), the ratio to single-model. Not part of `make bench`
(about 6 minutes for two modes): `make bench-whisperlive`.

    python -m bench.whisperlive_modes [--modes single,batch] [--out runs/bench/whisperlive_modes]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.procs import REPO, load_average, python_module
from loadgen.core.errors import UserError
from loadgen.core.matrix import ServerSettings
from stack.ports import free_base_port
from whisperlive.models import resolve_model

REPLICAS = 3
MODEL = "tiny.en"
MAX_CLIENTS = 4  # per replica, as in the demo
OMP_THREADS = 1
STEPS = "1,2,3,4,6,8"  # the same counts in every mode, resolution 1 where single-model's knee lies
RAMP_FLAGS = ("--profile", "cpu", "--hold", "30", "--warmup", "10", "--no-live")
# `whisperlive serve` flags per mode (docs/PERFORMANCE.md says why these).
# Each mode's server settings (docs/PERFORMANCE.md says why these; the batch window is the wrapper's 50 ms).
MODES: dict[str, dict[str, Any]] = {
    "single": {"mode": "single"},
    "batch": {"mode": "batch", "batch_max_size": 4, "batch_max_queue_wait_s": 2},
    "batch-defaults": {"mode": "batch"},  # the wrapper's: 16, 50 ms, 0.5 s queue wait, 5 admissions/s
}
BASELINE = "single"
READY_TIMEOUT_S = 45  # the stack is up in about 5 s when the weights are installed


@dataclass(frozen=True)
class StepRow:
    """One judged step of a ramp, as the report summarised it."""

    clients: int
    passed: bool
    lag_p95_s: float | None
    wer: float | None
    failed: tuple[str, ...]
    replica_cpu_cores: float | None  # all replicas together, mean over the step


@dataclass(frozen=True)
class ModeResult:
    """The verdict of one mode's ramp."""

    mode: str
    flags: tuple[str, ...]
    capacity: int | None
    first_failing: int | None
    headline: str
    steps: tuple[StepRow, ...]
    outcomes: dict[str, int]
    problems: dict[str, int]  # "outcome: kind: detail" of sessions that did not end ok, counted
    wall_s: float
    inference: Inference | None = None


@dataclass(frozen=True)
class Inference:
    """The replicas' transcriptions over the whole ramp, and how many ran in multi-stream batches."""

    transcriptions: int | None  # whisperlive_transcription_latency_seconds_count, all replicas
    mean_s: float | None  # mean seconds per transcription (from the same histogram)
    batches: int  # upstream's "[BatchInference] Processing batch of N" lines (N >= 2)
    batched_items: int  # the sum of their N


BATCH_LINE = re.compile(r"\[BatchInference\] Processing batch of (\d+)")


def batched(log_texts: Iterable[str]) -> tuple[int, int]:
    """Multi-stream batches in the replicas' logs, and the transcriptions they carried."""
    sizes = [int(n) for text in log_texts for n in BATCH_LINE.findall(text)]
    return len(sizes), sum(sizes)


def step_rows(summary: Mapping[str, Any]) -> tuple[StepRow, ...]:
    """The judged steps of a ramp's summary.json, in order, with the replicas' CPU of each."""
    resources = summary.get("resources") or {}
    return tuple(
        StepRow(
            clients=int(row["clients"]),
            passed=bool(row["passed"]),
            lag_p95_s=row.get("lag_p95"),
            wer=row.get("wer"),
            failed=tuple(row.get("failed") or ()),
            replica_cpu_cores=_replica_cpu(resources.get(str(row["index"]))),
        )
        for row in summary.get("rows", ())
    )


def _replica_cpu(step: Mapping[str, Any] | None) -> float | None:
    cores = [r.get("cpu_cores") for r in ((step or {}).get("replicas") or {}).values()]
    known = [c for c in cores if c is not None]
    return round(sum(known), 3) if known else None


def session_outcomes(sessions: Iterable[Mapping[str, Any]]) -> tuple[dict[str, int], dict[str, int]]:
    """Sessions counted by outcome, and the non-ok ones (`stopped` excepted: the ramp retired them) by
    what happened, e.g. "refused: wait: server full"."""
    outcomes: Counter[str] = Counter()
    problems: Counter[str] = Counter()
    for s in sessions:
        outcome = str(s.get("outcome"))
        outcomes[outcome] += 1
        if outcome not in ("ok", "stopped"):
            detail = str(s.get("error_detail") or "")[:120]
            problems[": ".join(str(p) for p in (outcome, s.get("error_kind"), detail) if p)] += 1
    return dict(outcomes), dict(problems)


def mode_result(
    mode: str, flags: Sequence[str], summary: Mapping[str, Any], sessions: Iterable[Mapping[str, Any]],
    wall_s: float, inference: Inference | None = None,
) -> ModeResult:
    """One mode's verdict from its ramp's summary.json and sessions."""
    capacity = summary.get("capacity") or {}
    outcomes, problems = session_outcomes(sessions)
    return ModeResult(
        mode=mode,
        flags=tuple(flags),
        capacity=capacity.get("max_clients"),
        first_failing=capacity.get("first_failing_clients"),
        headline=str((summary.get("verdict") or {}).get("headline", "")),
        steps=step_rows(summary),
        outcomes=outcomes,
        problems=problems,
        wall_s=round(wall_s, 1),
        inference=inference,
    )


def capacity_ratio(result: ModeResult, baseline: ModeResult | None) -> float | None:
    """`result`'s capacity over the baseline's; None when either has none."""
    if baseline is None or not result.capacity or not baseline.capacity:
        return None
    return round(result.capacity / baseline.capacity, 2)


def markdown_table(results: Sequence[ModeResult]) -> str:
    """Side by side: one line per mode, the steps as columns (`p95 lag / WER`, a failed step marked)."""
    counts = sorted({s.clients for r in results for s in r.steps})
    baseline = next((r for r in results if r.mode == BASELINE), None)
    head = ["mode", "capacity (clients)", *(f"{n} clients: p95 lag, WER, CPU" for n in counts),
            "transcriptions", f"ratio to {BASELINE}"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        by_count = {s.clients: s for s in r.steps}
        cells = [_step_cell(by_count.get(n)) for n in counts]
        ratio = capacity_ratio(r, baseline)
        row = [r.mode, _capacity_cell(r), *cells, _inference_cell(r.inference), _num(ratio, "{:.2f}")]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _capacity_cell(r: ModeResult) -> str:
    if r.capacity is None:
        return "none" if r.steps else "no step judged"
    return f"{r.capacity}" if r.first_failing is not None else f"≥ {r.capacity} (no step failed)"


def _step_cell(step: StepRow | None) -> str:
    if step is None:
        return "-"
    text = (f"{_num(step.lag_p95_s, '{:.2f} s')}, {_num(step.wer, '{:.1%}')}, "
            f"{_num(step.replica_cpu_cores, '{:.2f} cores')}")
    return text if step.passed else f"**FAIL** {text} ({'; '.join(step.failed)})"


def _inference_cell(i: Inference | None) -> str:
    if i is None:
        return "n/a"
    count = "n/a" if i.transcriptions is None else f"{i.transcriptions}"
    mean = _num(i.mean_s, "{:.3f} s")
    return f"{count}, {mean} each, {i.batched_items} in {i.batches} multi-stream batches"


def _num(value: float | None, fmt: str) -> str:
    return "n/a" if value is None else fmt.format(value)


# Edges: the sweep, the files.


def preflight() -> str | None:
    """Why the benchmark cannot run here (one line), or None."""
    if importlib.util.find_spec("whisper_live") is None:
        return "whisper-live is not installed: run `make install` (pip install whisper-live)"
    try:
        resolve_model(MODEL)
    except UserError as exc:
        return f"the {MODEL} weights are missing: {exc}"
    return None


def mode_matrix(mode: str, steps: str) -> dict[str, Any]:
    """The one-configuration sweep matrix of a mode: the demo's 3 replicas with the mode's settings, the
    demo's ramp (scripts/step_load.sh's defaults) with an explicit schedule."""
    return {
        "sweep": {"target": "local", "ready_timeout": READY_TIMEOUT_S},
        "ramp": {"args": ["--audio-dir", "test_audio/corpus", "--steps", steps, *RAMP_FLAGS]},
        "server": {
            "replicas": REPLICAS, "model": MODEL, "max_clients": MAX_CLIENTS, "omp_threads": OMP_THREADS,
            **MODES[mode],
        },
    }


def measure_mode(mode: str, out: Path, steps: str) -> ModeResult:
    """`loadgen sweep` of the mode's one configuration (stack up, handshake, ramp, stack down); the verdict
    from the ramp's run directory, the multi-stream batches from the replicas' logs."""
    sweep_dir = out / mode
    matrix = out / f"{mode}.yaml"  # JSON is YAML
    matrix.write_text(json.dumps(mode_matrix(mode, steps), indent=1))
    command = python_module(
        "loadgen", "sweep", "--matrix", str(matrix), "--out", str(sweep_dir),
        "--base-port", str(free_base_port(REPLICAS)),
    )
    print(f"  {' '.join(command[1:])}", flush=True)
    code = subprocess.run(command, cwd=REPO, check=False).returncode
    state_path = sweep_dir / "sweep.json"
    if not state_path.is_file():
        raise RuntimeError(f"{mode}: the sweep (exit {code}) left no sweep.json in {sweep_dir}")
    config = json.loads(state_path.read_text())["configs"][0]
    ramp_dir = sweep_dir / config["run_dir"]
    summary_path = ramp_dir / "summary.json"
    if not summary_path.is_file() and (ramp_dir / "steps.jsonl").is_file():  # killed before its report
        subprocess.run(python_module("loadgen", "report", str(ramp_dir)), cwd=REPO, capture_output=True)
    if not summary_path.is_file():
        raise RuntimeError(f"{mode}: the ramp left no summary ({config['error']}); see {sweep_dir / 'logs'}")
    summary = json.loads(summary_path.read_text())
    sessions_path = ramp_dir / "sessions.jsonl"
    sessions = [json.loads(line) for line in sessions_path.read_text().splitlines() if line.strip()] \
        if sessions_path.is_file() else []
    replica_logs = sorted((sweep_dir / "stack" / "logs").glob("whisperlive-*.log"))
    logs = [p.read_text(errors="replace") for p in replica_logs]
    flags = ServerSettings.from_json(config["server"]).serve_args()
    inference = Inference(None, None, *batched(logs))  # the stack (and its Prometheus) stopped with the sweep
    return mode_result(mode, flags, summary, sessions, config["wall_s"] or 0.0, inference)


def describe(result: ModeResult) -> str:
    """A console paragraph for one mode."""
    lines = [f"{result.mode}: {result.headline} ({result.wall_s:g} s, serve flags: "
             f"{' '.join(result.flags) or 'none'})"]
    lines += [f"  {s.clients} clients: p95 lag {_num(s.lag_p95_s, '{:.2f} s')}, WER {_num(s.wer, '{:.1%}')}, "
              f"replicas' CPU {_num(s.replica_cpu_cores, '{:.2f} cores')}: "
              f"{'PASS' if s.passed else 'FAIL: ' + '; '.join(s.failed)}" for s in result.steps]
    not_ok = f"; not ok: {result.problems}" if result.problems else ""
    lines.append(f"  sessions: {result.outcomes}{not_ok}")
    if i := result.inference:
        lines.append(f"  transcriptions: {_inference_cell(i)}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Every mode in turn; the table printed and written under --out. Exit 2 when it cannot run here."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default="single,batch", help=f"of {', '.join(MODES)} (single,batch)")
    parser.add_argument("--steps", default=STEPS, help=f"the ramp's client counts ({STEPS})")
    parser.add_argument("--out", type=Path, default=Path("runs/bench/whisperlive_modes"))
    args = parser.parse_args(argv)
    modes = args.modes.split(",")
    if unknown := [m for m in modes if m not in MODES]:
        print(f"whisperlive_modes: --modes {','.join(unknown)}: use {', '.join(MODES)}", file=sys.stderr)
        return 2
    if problem := preflight():
        print(f"whisperlive_modes: {problem}", file=sys.stderr)
        return 2
    out = args.out / time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    out.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                              "load_average_before": load_average(), "cpus": os.cpu_count(),
                              "steps": args.steps, "ramp_flags": RAMP_FLAGS, "modes": []}
    results = []
    for mode in modes:
        print(f"{mode}: starting the stack", flush=True)
        try:
            results.append(measure_mode(mode, out, args.steps))
        except RuntimeError as exc:  # the modes measured so far are kept
            print(f"whisperlive_modes: {mode}: {exc}", file=sys.stderr)
            return 1
        print(describe(results[-1]), flush=True)
        record["modes"] = [asdict(r) for r in results]
        (out / "whisperlive_modes.json").write_text(json.dumps(record, indent=1))
    record["load_average_after"] = load_average()
    table = markdown_table(results)
    (out / "whisperlive_modes.json").write_text(json.dumps(record, indent=1))
    (out / "whisperlive_modes.md").write_text(table + "\n")
    print(f"\n{table}\n\nload average before {record['load_average_before']}, after "
          f"{record['load_average_after']}; results in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
