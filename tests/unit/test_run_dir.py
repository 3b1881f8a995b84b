"""RunDir: shard files are merged on read, a torn last line is reported, not fatal."""

from pathlib import Path

import pytest

from loadgen.core.errors import UsageError
from loadgen.core.session_result import SessionResult
from loadgen.data.run_dir import EVENTS, SESSIONS, STEPS, RunDir


def _session(client: int) -> SessionResult:
    return SessionResult(client=client, seq=0, uid=f"u{client}", utterances=["a"], started_at=1.0)


def test_shards_write_their_own_files_and_reads_merge_them(tmp_path: Path) -> None:
    for shard in (0, 1):
        run = RunDir(tmp_path, shard).create()
        writer = run.writer(SESSIONS)
        writer.write(_session(shard))
        writer.close()
        steps = run.writer(STEPS)
        steps.append({"index": 0, "clients": 2})
        steps.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "sessions.shard-0.jsonl",
        "sessions.shard-1.jsonl",
        "steps.shard-0.jsonl",
        "steps.shard-1.jsonl",
    ]
    sessions, torn = RunDir(tmp_path).read_sessions()
    assert [s.client for s in sessions] == [0, 1] and not torn
    steps_read, _ = RunDir(tmp_path).read_records(STEPS)
    assert steps_read == [{"index": 0, "clients": 2}] * 2


def test_torn_last_line_is_dropped_and_flagged(tmp_path: Path) -> None:
    (tmp_path / EVENTS).write_text('{"kind": "chaos"}\n{"kind": "ch', encoding="utf-8")
    events, torn = RunDir(tmp_path).read_records(EVENTS)
    assert events == [{"kind": "chaos"}] and torn


def test_manifest_only_written_by_shard_zero_and_missing_one_is_a_usage_error(tmp_path: Path) -> None:
    RunDir(tmp_path, 1).write_manifest({"kind": "ramp"})
    with pytest.raises(UsageError, match="not a run directory"):
        RunDir(tmp_path).read_manifest()
    RunDir(tmp_path, 0).write_manifest({"kind": "ramp"})
    assert RunDir(tmp_path).read_manifest() == {"kind": "ramp"}
