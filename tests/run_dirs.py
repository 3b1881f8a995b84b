"""Run directories written exactly as docs/RUN_DIR.md documents them, for report and compare tests.

A fixture ramp follows a known system: throughput obeys the USL with the given lambda, sigma, kappa, the
p95 lag stays flat until `knee` clients and climbs steeply after it, and the step verdict fails above the
SLO.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadgen.core.kpi import WordErrors
from loadgen.core.latency_hist import encode
from loadgen.core.records import StepRecord
from loadgen.core.session_result import SessionResult
from loadgen.data.run_dir import RunDir
from loadgen.report.model.usl import usl_throughput

T0 = 1_764_000_000.0
HOLD_S = 30.0
WARMUP_S = 5.0


@dataclass(frozen=True)
class System:
    """The fixture system's behaviour."""

    lam: float = 1.0
    sigma: float = 0.05
    kappa: float = 0.004
    knee: int = 8
    slo_s: float = 0.5
    base_lag_s: float = 0.3
    wer: float = 0.05

    def lag_p95(self, clients: int) -> float:
        """Flat, then steep past the knee (a hockey stick: Kneedle's knee is the bend)."""
        return self.base_lag_s + 0.01 * clients + max(0, clients - self.knee) * 0.4

    def throughput(self, clients: int) -> float:
        """USL throughput."""
        return float(usl_throughput(clients, self.lam, self.sigma, self.kappa))


def manifest(
    kind: str = "ramp", status: str = "complete", replicas: int | None = 3, **extra: Any
) -> dict[str, Any]:
    """A run.json."""
    return {
        "kind": kind,
        "status": status,
        "started_at": T0,
        "ended_at": T0 + 600,
        "url": "ws://127.0.0.1:9090",
        "command": ["loadgen", kind],
        "profile": {"name": "test", "thresholds": {"p95_transcript_lag_s": 0.5, "min_success_ratio": 0.99}},
        "schedule": {"kind": "steps" if kind != "soak" else "soak"},
        "corpus": {"root": "test_audio/corpus", "layout": "wav+txt", "files": 16, "duration_s": 108.1},
        "prometheus_url": None,
        "replicas": replicas,
        "shard": {"index": 0, "count": 1},
        "loadgen_version": "0.1.0",
        **extra,
    }


def step(
    index: int,
    clients: int,
    lag_p95: float,
    throughput: float,
    slo_s: float = 0.5,
    phase: str = "explicit",
    wer: float = 0.05,
    errors: int = 0,
    started_at: float | None = None,
    replicas: dict[str, int] | None = None,
    on_time: float = 1.0,
    untranscribed_s: float | None = None,
    repeat: int | None = None,
) -> dict[str, Any]:
    """One steps.jsonl record with its verdict (p95 lag against the SLO, errors against 1 %); its lag
    histogram has `on_time` of 100 samples at 0.1 s and the rest at 5 s (goodput's on-time share)."""
    start = T0 + index * (HOLD_S + WARMUP_S) if started_at is None else started_at
    ok = max(clients * 2 - errors, 0)
    lag_pass = lag_p95 <= slo_s
    error_ratio = errors / max(ok + errors, 1)
    criteria = [
        {
            "name": "p95_transcript_lag",
            "value": lag_p95,
            "limit": slo_s,
            "passed": lag_pass,
            "detail": f"p95 transcript lag {lag_p95:.2f} s {'<=' if lag_pass else '>'} {slo_s:.2f} s",
        },
        {
            "name": "error_ratio",
            "value": error_ratio,
            "limit": 0.01,
            "passed": error_ratio <= 0.01,
            "detail": f"error ratio {error_ratio:.1%}",
        },
        {"name": "wer", "value": wer, "limit": 0.2, "passed": None, "detail": "no baseline"},
    ]
    share = replicas or {f"127.0.0.1:910{i}": clients for i in (1, 2, 3)}
    return {
        "index": index,
        "clients": clients,
        "phase": phase,
        "started_at": start,
        "measure_from": start + WARMUP_S,
        "ended_at": start + WARMUP_S + HOLD_S,
        "window": {
            "duration_s": HOLD_S,
            "active_clients": {"min": clients, "max": clients, "avg": clients - 0.02},
            "sessions": {"ok": ok, "recovered": 0, "refused": 0, "error": errors, "dropped": 0, "stopped": 0},
            "connect_attempts": ok + errors,
            "error_kinds": {"connect_failed": errors},
            "transcript_lag": {
                "count": 100,
                "avg": lag_p95 * 0.7,
                "p50": lag_p95 * 0.6,
                "p95": lag_p95,
                "p99": lag_p95 * 1.2,
                "max": lag_p95 * 1.4,
            },
            "finalization_lag": None,
            "send_slip": {"count": 400, "avg": 0.001, "p50": 0.001, "p95": 0.003, "p99": 0.005, "max": 0.009},
            "word_errors": round(wer * 200),
            "reference_words": 200,
            "wer": wer,
            "audio_sent_s": throughput * HOLD_S,
            "transcribed_audio_s": throughput * HOLD_S,
            "throughput": throughput,
            "replicas": {k: {"sessions": v, "transcribed_audio_s": 10.0} for k, v in share.items()},
            "histograms": {
                "transcript_lag": encode([0.1] * round(100 * on_time) + [5.0] * round(100 - 100 * on_time))
            },
            **({} if untranscribed_s is None else {"audio_untranscribed_s": untranscribed_s}),
        },
        "verdict": {"passed": lag_pass and error_ratio <= 0.01, "criteria": criteria},
        **({} if repeat is None else {"repeat": repeat}),
    }


def records(lines: list[dict[str, Any]]) -> list[StepRecord]:
    """steps.jsonl lines as the report reads them."""
    return [StepRecord.from_json(line) for line in lines]


def ramp_steps(system: System, clients: list[int]) -> list[dict[str, Any]]:
    """Steps of a ramp over `clients` against `system`."""
    return [
        step(i, n, system.lag_p95(n), system.throughput(n), system.slo_s, wer=system.wer)
        for i, n in enumerate(clients)
    ]


def session(client: int, seq: int, replica: str, started_at: float, **fields: Any) -> SessionResult:
    """One finished session."""
    return SessionResult(
        client=client,
        seq=seq,
        uid=f"u{client}-{seq}",
        utterances=["a.wav"],
        started_at=started_at,
        replica=replica,
        replicas=fields.pop("replicas", [replica]),
        audio_sent_s=6.0,
        transcript_lags_s=[0.3, 0.4, 0.5],
        reference="hello world",
        hypothesis="hello world",
        word_errors=WordErrors(0, 0, 0, 2),
        **fields,
    )


def write_run(
    path: Path,
    run: dict[str, Any],
    steps: list[dict[str, Any]],
    sessions: list[SessionResult] = (),  # type: ignore[assignment]
    events: list[dict[str, Any]] = (),  # type: ignore[assignment]
) -> Path:
    """Write a run directory through RunDir, the way drivers do."""
    run_dir = RunDir(path).create()
    run_dir.write_manifest(run)
    for name, records in (("steps.jsonl", steps), ("events.jsonl", events)):
        writer = run_dir.writer(name)
        for record in records:
            writer.append(record)
        writer.close()
    writer = run_dir.writer("sessions.jsonl")
    for result in sessions:
        writer.write(result)
    writer.close()
    return path


def tear_last_line(path: Path) -> None:
    """Cut the last line of a JSONL file in half, as a SIGKILL mid-write would."""
    text = path.read_text()
    last = text.rstrip("\n").rsplit("\n", 1)[-1]
    path.write_text(text.rstrip("\n")[: len(text.rstrip("\n")) - len(last) // 2])


def read_json(path: Path) -> Any:
    """A JSON file."""
    return json.loads(path.read_text())
