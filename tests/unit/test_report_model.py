"""The report model: verdict, max concurrent connections, what saturated first, drift, recovery."""

from __future__ import annotations

import json

import pytest

from loadgen.core.kpi import WordErrors
from loadgen.core.untranscribed import Untranscribed
from loadgen.report.model.recovery import AffectedSession
from loadgen.report.model.report import RunInputs, build_report
from loadgen.report.model.tables import recovery_section, steps_table, totals_table
from loadgen.report.model.usage import GpuUsage, ReplicaUsage, StepResources
from tests.run_dirs import T0, System, manifest, ramp_steps, records, session, step

CLIENTS = [1, 2, 4, 6, 8, 10, 12]


def inputs(steps, run=None, sessions=(), events=(), resources=None) -> RunInputs:
    return RunInputs(
        "runs/x", run or manifest(), records(steps), list(sessions), list(events), resources or {}
    )


def test_max_concurrent_connections_is_the_largest_pass_below_the_first_failure():
    report = build_report(inputs(ramp_steps(System(knee=8), CLIENTS)))
    assert report.capacity.max_clients == 8
    assert report.capacity.first_failing_clients == 10
    assert report.capacity.failing_criteria == ["p95 transcript lag 1.20 s > 0.50 s"]
    assert report.verdict.passed
    assert report.verdict.headline.startswith("max concurrent connections = 8")
    assert report.run.slo_s == 0.5 and not report.run.interrupted


def test_usl_and_knees_sit_next_to_the_verdict():
    system = System(knee=8, lam=1.0, sigma=0.05, kappa=0.004)
    report = build_report(inputs(ramp_steps(system, CLIENTS)))
    assert report.usl is not None
    assert report.usl.lam == pytest.approx(1.0, rel=0.01) and report.usl.sigma == pytest.approx(
        0.05, abs=0.01
    )
    assert report.knees.lag_p95 == 8


def test_even_one_client_failing_means_no_capacity():
    report = build_report(inputs(ramp_steps(System(knee=0, base_lag_s=0.9), [1, 2])))
    assert report.capacity.max_clients is None
    assert not report.verdict.passed
    assert (
        "even 1 client failed" in report.verdict.headline and "p95 transcript lag" in report.verdict.headline
    )


def test_no_failing_step_gives_a_lower_bound():
    report = build_report(inputs(ramp_steps(System(knee=50), [1, 2, 4])))
    assert report.capacity.max_clients == 4 and report.capacity.first_failing_clients is None
    assert report.verdict.passed and "≥ 4" in report.verdict.headline


def test_a_pass_above_the_first_failure_does_not_count_but_is_noted():
    steps = [step(0, 2, 0.3, 2.0), step(1, 4, 0.9, 3.0), step(2, 6, 0.4, 4.0)]
    report = build_report(inputs(steps))
    assert report.capacity.max_clients == 2 and report.capacity.passed_above_failure == [6]


def test_unjudged_steps_are_ignored():
    steps = ramp_steps(System(knee=8), [1, 2, 4])
    steps.append({"index": 3, "clients": 8, "phase": "explicit"})  # killed before its verdict
    report = build_report(inputs(steps))
    assert report.capacity.max_clients == 4 and report.rows[-1].passed is None


def cpu(cores: dict[str, float], limit: float | None = None, host: float | None = None) -> StepResources:
    replicas = {
        name: ReplicaUsage(cpu_cores=c, cpu_limit_cores=limit, memory_bytes=5e8) for name, c in cores.items()
    }
    return StepResources(replicas=replicas, host_cpus=host)


def test_the_host_cpu_saturating_before_the_lag_fails_is_named_first():
    steps = ramp_steps(System(knee=8), CLIENTS)
    resources = {
        i: cpu({"whisperlive-1": 0.15 * n, "whisperlive-2": 0.15 * n, "whisperlive-3": 0.1 * n}, host=2.0)
        for i, n in enumerate(CLIENTS)
    }
    report = build_report(inputs(steps, resources=resources))
    # 6 clients: 0.9 + 0.9 + 0.6 = 2.4 cores of 2 -> the first step at or above 90 % (4 clients: 1.6 = 80 %)
    assert report.saturation.resource_clients == 6
    assert report.saturation.resources[0].startswith("host CPU (all replicas) 2.40 of 2.00 cores")
    assert report.saturation.criterion_clients == 10
    assert report.saturation.headline.startswith("host CPU (all replicas)")
    assert "first failure: p95 transcript lag" in report.saturation.headline


def test_a_replica_at_its_cpu_quota_and_a_full_gpu_are_saturation():
    steps = ramp_steps(System(knee=8), [1, 2, 4])
    resources = {
        0: cpu({"whisperlive-1": 0.3}, limit=1.0),
        1: StepResources(gpus={"0": GpuUsage(util_pct=93.0, fb_used_mib=1000, fb_total_mib=16000)}),
        2: cpu({"whisperlive-1": 0.95}, limit=1.0),
    }
    report = build_report(inputs(steps, resources=resources))
    assert report.saturation.resource_clients == 2
    assert report.saturation.resources == ["GPU 0 utilisation 93.00 of 100.00 % (93 %)"]


def test_host_cpus_from_the_manifest_when_prometheus_has_none():
    steps = ramp_steps(System(knee=8), [1, 2])
    resources = {1: cpu({"whisperlive-1": 1.9})}
    report = build_report(inputs(steps, run=manifest(host_cpus=2), resources=resources))
    assert report.saturation.resource_clients == 2
    without = build_report(inputs(steps, resources=resources))
    assert without.saturation.resource_clients is None and without.saturation.highest is None
    assert "no resource reached 90 %" in without.saturation.headline


def test_the_closest_resource_is_named_when_none_saturated():
    steps = ramp_steps(System(knee=8), [1, 2, 4])
    resources = {
        i: cpu({"whisperlive-1": 0.3 * n, "whisperlive-2": 0.1 * n}) for i, n in enumerate([1, 2, 4])
    }
    report = build_report(inputs(steps, run=manifest(host_cpus=2), resources=resources))
    assert report.saturation.resource_clients is None
    assert report.saturation.highest == "host CPU (all replicas) 1.60 of 2.00 cores (80 %) at 4 clients"
    assert report.saturation.headline.endswith(
        "highest: host CPU (all replicas) 1.60 of 2.00 cores (80 %) at 4 clients); "
        "goodput still rising at 4 clients (3.34 streams)"
    )


def test_a_run_still_marked_running_is_reported_as_interrupted():
    report = build_report(inputs(ramp_steps(System(), [1, 2, 4]), run=manifest(status="running")))
    assert report.run.interrupted and report.run.status == "interrupted"
    assert report.verdict.headline.endswith("(run interrupted)")
    assert any("still says 'running'" in note for note in report.run.notes)


def test_failures_and_recovery_from_reconnects_and_chaos_events():
    kill = {
        "at": T0 + 100,
        "kind": "chaos",
        "action": "kill",
        "target": "whisperlive-2",
        "step": 3,
        "detail": "x",
    }
    sessions = [
        session(0, 0, "r1", T0 + 10),
        session(
            1,
            0,
            "r2",
            T0 + 20,
            replicas=["r2", "r1"],
            reconnects=1,
            reconnect_s=[0.8],
            audio_lost_s=1.2,
            offline_s=0.9,
            outcome="recovered",
        ),
        session(
            2,
            0,
            "r2",
            T0 + 30,
            replicas=["r2", "r3"],
            reconnects=2,
            reconnect_s=[0.5, 2.0],
            audio_lost_s=3.0,
            outcome="dropped",
            error_kind="closed_mid_stream",
        ),
        session(3, 0, "r3", T0 + 150),
        session(
            4, 0, "r1", T0 + 40, replicas=["r1", "r3"], reconnects=1, reconnect_s=[0.4], outcome="stopped"
        ),
    ]
    report = build_report(inputs(ramp_steps(System(), [1, 2]), sessions=sessions, events=[kill]))
    rec = report.recovery
    assert rec is not None
    # the stopped one reconnected and was streaming when the run ended it: recovered
    assert (rec.affected, rec.recovered, rec.never_recovered, rec.reconnects) == (3, 2, 1, 4)
    assert rec.reconnect_s.max == 2.0 and rec.reconnect_s.p50 == pytest.approx(0.65)
    assert rec.audio_lost_s == pytest.approx(4.2) and rec.audio_lost_max_s == 3.0
    assert rec.share_before == {"r1": 2 / 4, "r2": 2 / 4}
    assert rec.share_after == {"r1": 1 / 4, "r3": 3 / 4}  # r3's new session and the reconnections


def test_no_recovery_section_without_chaos_or_reconnects():
    report = build_report(inputs(ramp_steps(System(), [1, 2]), sessions=[session(0, 0, "r1", T0)]))
    assert report.recovery is None


def soak_steps(n: int, lag: float = 0.4) -> list[dict]:
    return [step(i, 8, lag, 6.0, phase="soak", started_at=T0 + 300 * i) for i in range(n)]


def test_soak_with_a_replica_leaking_memory_fails_on_drift():
    steps = soak_steps(8)
    leak = {
        i: StepResources(
            replicas={
                "whisperlive-1": ReplicaUsage(memory_bytes=(500 + 20 * i) * 2**20),
                "whisperlive-2": ReplicaUsage(memory_bytes=600 * 2**20),
            }
        )
        for i in range(8)
    }
    report = build_report(inputs(steps, run=manifest(kind="soak"), resources=leak))
    assert report.rows == [] and len(report.soak_rows) == 8
    assert report.drift is not None and [t.series for t in report.drift.drifting] == ["memory whisperlive-1"]
    assert not report.verdict.passed and "drift: memory whisperlive-1 +" in report.verdict.headline


def test_a_steady_soak_passes():
    report = build_report(inputs(soak_steps(6), run=manifest(kind="soak")))
    assert report.verdict.passed and "6/6 windows passed" in report.verdict.headline


def test_summary_json_is_strict_json():
    report = build_report(inputs([{"index": 0, "clients": 1, "phase": "explicit"}]))
    text = json.dumps(report.to_json_dict(), allow_nan=False)
    assert json.loads(text)["capacity"]["max_clients"] is None


def test_garbage_fields_in_a_step_do_not_stop_the_report():
    steps = [
        *ramp_steps(System(), [1, 2]),
        {"index": "x", "clients": "many", "window": None, "verdict": None},
    ]
    report = build_report(inputs(steps))
    assert report.capacity.max_clients == 2
    assert any(r.clients == 0 and r.passed is None for r in report.rows)


def test_recovery_sets_each_affected_session_s_untranscribed_speech_beside_its_deleted_words():
    kill = {"kind": "chaos", "at": T0 + 25, "action": "kill", "target": "r2"}
    hit = session(
        0, 0, "r2", T0, replicas=["r2", "r1"], reconnects=1, outcome="recovered",
        untranscribed=Untranscribed(1.8, 0.0, 0.0), audio_untranscribed_s=1.8,
    )  # fmt: skip
    hit.word_errors = WordErrors(1, 6, 0, 40)
    calm = session(1, 0, "r1", T0, untranscribed=Untranscribed(0.0, 0.0, 2.5), audio_untranscribed_s=2.5)
    report = build_report(inputs(ramp_steps(System(), [1, 2]), sessions=[hit, calm], events=[kill]))
    rec = report.recovery
    assert rec is not None and rec.untranscribed == Untranscribed(1.8, 0.0, 2.5)
    assert rec.affected_sessions == [
        AffectedSession("u0-0", ["r2", "r1"], "recovered", 1, Untranscribed(1.8, 0.0, 0.0), 6, 40)
    ]
    section = recovery_section(report)
    assert section is not None
    [affected] = [t for t in section.tables if t.title.startswith("affected sessions")]
    assert affected.rows == [["u0-0", "r2 → r1", "recovered", "1", "1.80", "0.00", "0.00", "6 of 40"]]
    totals = dict(totals_table(report).rows)
    assert totals["speech untranscribed (every session)"] == "4.3 s (in flight 1.8, gap 0.0, skipped 2.5)"
    assert totals["word errors substituted / deleted / inserted"] == "1 / 6 / 0"


def test_a_step_row_carries_the_word_error_split_and_untranscribed_speech_of_its_window():
    record = step(0, 2, 0.3, 2.0)
    window = record["window"]
    window |= {"substitutions": 2, "deletions": 9, "insertions": 1, "audio_untranscribed_s": 3.5}
    window["untranscribed"] = {"in_flight_s": 1.0, "gap_s": 0.5, "skipped_s": 2.0}
    report = build_report(inputs([record]))
    [row] = report.rows
    assert (row.substitutions, row.deletions, row.insertions) == (2, 9, 1)
    assert (row.audio_untranscribed_s, row.untranscribed) == (3.5, Untranscribed(1.0, 0.5, 2.0))
    table = steps_table(report.rows)
    cells = dict(zip(table.headers, table.rows[0], strict=True))
    assert (cells["words S / D / I"], cells["untranscribed (s)"]) == ("2 / 9 / 1", "3.500")
    old = build_report(inputs([step(0, 2, 0.3, 2.0)])).rows[0]  # a record written before these fields
    assert dict(zip(table.headers, steps_table([old]).rows[0], strict=True))["words S / D / I"] == "—"
