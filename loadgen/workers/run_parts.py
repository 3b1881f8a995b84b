"""The files of `loadgen run --workers K`: where each worker writes, and how they become the run's.

In a run directory worker i writes its sessions to the shard file `sessions.shard-i.jsonl` (readers merge
shard files, docs/RUN_DIR.md); otherwise to a part file that is merged into `--output-file` at the end.
Worker logs and summaries go to `workers/` in the run directory, or `<output stem>.workers/` beside it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadgen.core.records import Shard
from loadgen.core.session_result import SessionResult
from loadgen.data.results_file import JsonlWriter, read_results
from loadgen.data.run_dir import SESSIONS, RunDir
from loadgen.telemetry.loop_monitor import SaturationRecord


@dataclass(frozen=True)
class RunParts:
    """The per-worker files of one run."""

    output_file: Path  # the run's sessions file (in a run directory: its sessions.jsonl)
    workers: int
    in_run_dir: bool

    @property
    def workdir(self) -> Path:
        """Where the workers' logs and summaries go."""
        if self.in_run_dir:
            return self.output_file.parent / "workers"
        return self.output_file.with_name(f"{self.output_file.stem}.workers")

    def sessions(self, index: int) -> Path:
        """Worker `index`'s sessions file."""
        if self.in_run_dir:
            return RunDir(self.output_file.parent, index).file(SESSIONS)
        return self.workdir / f"sessions.worker-{index}.jsonl"

    def summary(self, index: int) -> Path:
        """Worker `index`'s summary JSON."""
        return self.workdir / f"worker-{index}.summary.json"

    def worker_fields(self, num_clients: int) -> list[dict[str, Any]]:
        """What each worker's flags differ in: its share of the clients and its own files."""
        return [
            {
                "num_clients": Shard(index, self.workers).share(num_clients),
                "output_file": self.sessions(index),
                "summary_file": self.summary(index),
                "run_dir": None,
            }
            for index in range(self.workers)
        ]

    def merge(self) -> list[SessionResult]:
        """Every worker's sessions, in worker order; outside a run directory also written to the output
        file (the part files are removed once merged)."""
        results: list[SessionResult] = []
        for index in range(self.workers):
            path = self.sessions(index)
            if path.exists():
                results += read_results(path)[0]
        if not self.in_run_dir:
            writer = JsonlWriter(self.output_file)
            for result in results:
                writer.write(result)
            writer.close()
            for index in range(self.workers):
                self.sessions(index).unlink(missing_ok=True)
        return results

    def worker_summaries(self) -> tuple[int, SaturationRecord]:
        """The workers' peak streams added up, and the worst of their generator saturation."""
        peak, saturation = 0, SaturationRecord()
        for index in range(self.workers):
            try:
                manifest = json.loads(self.summary(index).read_text(encoding="utf-8"))["manifest"]
            except (OSError, ValueError, KeyError):
                continue  # a worker that died before its summary: its sessions still count
            peak += int(manifest.get("peak_streams") or 0)
            own = manifest.get("generator_saturation") or {}
            saturation = SaturationRecord(
                max(saturation.worst_slip_p99_s, float(own.get("worst_slip_p99_s") or 0.0)),
                max(saturation.saturated_s, float(own.get("saturated_s") or 0.0)),
            )
        return peak, saturation
