"""Run directories written before the typed records (commit dd413e5) read the same with this code.

tests/fixtures/run_dirs_dd413e5/ holds what dd413e5's `loadgen ramp` wrote against `loadgen simulate`
(capacity 2, continuous streams, 1 s warm-up, 2 s holds): `ramp/` in process over 1, 2, 3 clients, and
`ramp-workers/` with --workers 2 over 2, 4 clients (merged windows: no histograms; one sessions file per
worker), each with the summary.json its closing report wrote. Regenerate them only from that commit.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from loadgen.cli.entry import main
from loadgen.core.records import StepRecord
from loadgen.data.run_dir import STEPS, RunDir

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "run_dirs_dd413e5"
RUNS = ["ramp", "ramp-workers"]
# fields added to the report since (issue 15): a report of an old run has them, every other field is equal
ADDED = {"substitutions", "deletions", "insertions", "audio_untranscribed_s", "untranscribed"}
ADDED |= {"goodput", "lag_p95_ci", "repeat"}  # rows: goodput and the p95 interval, computed by the report
ADDED |= {"speech_ratio", "idle_sessions", "planned_audio_s"}  # issue 16: speech activity, idle clients
ADDED |= {"rate", "concurrency", "handshake", "handshake_refusals"}  # rows (issue 16): rate mode, churn
ADDED |= {"arrivals_dropped"}  # rows (issue 16): rate mode drops at --max-concurrency


def _without_added(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_added(v) for k, v in value.items() if k not in ADDED}
    if isinstance(value, list):
        return [_without_added(v) for v in value]
    return value


def _same(written: Any, read: Any, where: str = "") -> None:
    """Equal values and, in every object, the same fields in the same order."""
    assert written == read, where
    if isinstance(read, dict):
        assert list(written) == list(read), where
        for key, value in read.items():
            _same(written[key], value, f"{where}.{key}")


@pytest.mark.parametrize("name", RUNS)
def test_every_step_line_reads_and_writes_back_with_the_same_fields(name: str) -> None:
    lines, torn = RunDir(FIXTURES / name).read_records(STEPS)
    assert lines and not torn
    for line in lines:
        _same(StepRecord.from_json(line).to_json_dict(), line, f"step {line['index']}")


@pytest.mark.parametrize("name", RUNS)
def test_every_session_line_reads_back_with_the_same_fields(name: str) -> None:
    files = sorted((FIXTURES / name).glob("sessions*.jsonl"))  # sessions.jsonl or one per worker
    lines = [json.loads(line) for path in files for line in path.read_text().splitlines()]
    sessions, torn = RunDir(FIXTURES / name).read_sessions()
    assert sessions and not torn and len(sessions) == len(lines)
    for session, line in zip(sessions, lines, strict=True):
        _same(session.to_json_dict(), line, session.uid)


@pytest.mark.parametrize("name", RUNS)
def test_loadgen_report_gives_the_report_it_gave_before(name: str, tmp_path: Path) -> None:
    run = Path(shutil.copytree(FIXTURES / name, tmp_path / name))
    before = json.loads((run / "summary.json").read_text())
    code = main(["report", str(run)])
    after = json.loads((run / "summary.json").read_text())
    assert code == (0 if before["verdict"]["passed"] else 1)
    for key in ("verdict", "capacity", "rows", "soak_rows", "drift", "recovery", "totals"):
        assert _without_added(after[key]) == before[key], key
    # the USL and the second knee now run on goodput: measured only where the windows kept their
    # histograms (the in-process run; dd413e5's merged worker windows dropped them)
    measured = all(row["goodput"] is not None for row in after["rows"])
    assert measured == (name == "ramp")
    assert after["knees"]["lag_p95"] == before["knees"]["lag_p95"]
