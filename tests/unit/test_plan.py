"""`loadgen plan`: the arithmetic against hand-computed cases, then the command on real run directories.

Notation: c(N) = lambda*N / (1 + sigma*(N - 1) + kappa*N*(N - 1)), the capacity of N replicas; N+1 asks
for the fewest N with c(N - 1) >= X * (1 + headroom/100) (and c(N) too).
"""

from __future__ import annotations

import json

import pytest

from loadgen.cli.entry import main
from loadgen.report.model.plan import AMDAHL, LINEAR, USL, PlanError, PlanPoint, plan, sweep_points
from tests.unit.test_report_cli import ramp


def points(*pairs: tuple[int, float]) -> list[PlanPoint]:
    return [PlanPoint(f"run{n}-{c}", n, c) for n, c in pairs]


def test_linear_from_a_single_ramp():
    # One ramp: 2 replicas held 12 streams -> lambda = 12 / 2 = 6 per replica, linear.
    # X = 20: 6 * (N - 1) >= 20 -> N - 1 >= 3.33 -> N - 1 = 4 -> N = 5 (c(5) = 30, c(4) = 24).
    # Hosts: 2 replicas per host (the measured run's) -> ceil(5 / 2) = 3. Extrapolated 5 / 2 = 2.5x.
    answer = plan(points((2, 12)), 20)
    assert answer.model.kind == LINEAR
    assert answer.per_replica_capacity == 6
    assert (answer.replicas, answer.hosts, answer.replicas_per_host) == (5, 3, 2)
    assert answer.efficiency == 1.0
    assert answer.extrapolated and answer.extrapolation_factor == 2.5
    assert any(a.startswith("linear scaling: one replica count measured (2)") for a in answer.assumptions)
    assert any("2.5x the largest replica count measured (2)" in a for a in answer.assumptions)


def test_n_plus_one_needs_one_replica_more_than_the_load():
    # lambda = 10, X = 30: 3 replicas carry exactly 30, but with one lost 20 < 30; N = 4 (c(3) = 30 >= 30).
    answer = plan(points((1, 10)), 30)
    assert answer.replicas == 4
    to_json = answer.to_json(["d"])
    assert to_json["capacity"] == 40 and to_json["capacity_one_replica_lost"] == 30


@pytest.mark.parametrize(
    ("headroom", "replicas"),
    [
        (0.0, 5),  # required 20: 6 * 4 = 24 >= 20, 6 * 3 = 18 < 20 -> N - 1 = 4, N = 5
        (20.0, 5),  # required 20 * 1.2 = 24: 6 * 4 = 24 >= 24 exactly -> N = 5
        (25.0, 6),  # required 25: 6 * 4 = 24 < 25, 6 * 5 = 30 -> N - 1 = 5, N = 6
        (100.0, 8),  # required 40: 6 * 6 = 36 < 40, 6 * 7 = 42 -> N = 8
    ],
)
def test_headroom_is_a_percentage_of_the_target(headroom, replicas):
    answer = plan(points((2, 12)), 20, headroom)
    assert answer.required_streams == pytest.approx(20 * (1 + headroom / 100))
    assert answer.replicas == replicas


def test_usl_with_contention_has_efficiency_below_one():
    # Measured on c(N) = 10N / (1 + 0.25(N - 1)) = 40N / (N + 3): c(1) = 10, c(2) = 16, c(3) = 20.
    # X = 29: 40m / (m + 3) >= 29 -> 11m >= 87 -> m >= 7.91 -> N - 1 = 8, N = 9
    # (c(8) = 320 / 11 = 29.09, c(9) = 360 / 12 = 30). Efficiency at 9: 1 / (1 + 0.25 * 8) = 1/3.
    answer = plan(points((1, 10), (2, 16), (3, 20)), 29)
    assert answer.model.kind == USL
    assert answer.model.lam == pytest.approx(10, rel=1e-4)
    assert answer.model.sigma == pytest.approx(0.25, rel=1e-3)
    assert answer.model.kappa == pytest.approx(0, abs=1e-6)
    assert answer.replicas == 9
    assert answer.efficiency == pytest.approx(1 / 3, rel=1e-3)
    assert answer.hosts == 3  # 3 replicas per host: ceil(9 / 3)
    assert answer.extrapolation_factor == 3.0


def test_two_counts_are_amdahl_through_both_points():
    # (2, 16), (3, 20): sigma = (3*16 - 2*20) / (2*20*(3 - 1) - 3*16*(2 - 1)) = 8 / 32 = 0.25,
    # lambda = 16 * (1 + 0.25) / 2 = 10: the same curve as above, so X = 29 needs N = 9 again.
    answer = plan(points((2, 16), (3, 20)), 29)
    assert answer.model.kind == AMDAHL
    assert (answer.model.lam, answer.model.sigma) == pytest.approx((10, 0.25))
    assert answer.replicas == 9
    assert any("Amdahl" in a for a in answer.assumptions)


def test_superlinear_two_points_are_linear():
    # (1, 10), (2, 24): per replica 24 / 2 = 12 >= 10 / 1 -> linear, lambda = c1 / n1 = 10.
    answer = plan(points((1, 10), (2, 24)), 25)
    assert answer.model.sigma == 0 and answer.model.lam == 10
    assert answer.replicas == 4  # 10 * 3 = 30 >= 25, 10 * 2 = 20 < 25
    assert any("linear, superlinear taken as linear" in a for a in answer.assumptions)
    # n1 > 1: (2, 10), (3, 18): 18 / 3 = 6 >= 10 / 2 = 5 -> linear, lambda = 5 (whatever the formula's sign).
    shifted = plan(points((2, 10), (3, 18)), 10)
    assert (shifted.model.lam, shifted.model.sigma) == (5, 0)
    assert shifted.replicas == 3  # 5 * 2 = 10 >= 10, 5 * 1 = 5 < 10


def test_retrograde_two_points_are_flat_and_scale_out_over_hosts():
    # The local sweep on 2 cores: 2 replicas held 3 streams, 3 replicas held 2. c2 = 2 <= c1 = 3 -> flat:
    # sigma = 1, lambda = c1 (1 + 1 * (2 - 1)) / 2 = 3, c(N) = 3 for every N (the formula's
    # (3*3 - 2*2) / (2*2*2 - 3*3*1) = 5 / -1 = -5 would have read as linear).
    # X = 10 at +20 %: required 12 > 3 -> hosts of the best measured count k = 2 (c(2) = 3 measured), one
    # replica lost leaves its host at c(1) = 3 (the flat model's, not measured):
    # (H - 1) * 3 + 3 >= 12 -> H >= 4; H * 3 >= 12 -> H >= 4 -> 4 hosts x 2 = 8 replicas,
    # 12 streams, 12 with one replica lost.
    answer = plan(points((2, 3), (3, 2)), 10, 20)
    assert (answer.model.kind, answer.model.lam, answer.model.sigma) == (AMDAHL, 3, 1)
    assert answer.model.peak() == (3, 1)
    assert (answer.replicas, answer.hosts, answer.replicas_per_host) == (8, 4, 2)
    assert (answer.capacity, answer.capacity_one_replica_lost) == (12, 12)
    assert answer.scale_out and answer.extrapolated
    assert any("retrograde" in a and "flat" in a for a in answer.assumptions)
    assert any(a.startswith("hosts add up linearly: not measured") for a in answer.assumptions)
    assert any(
        "(4 - 1) x 3 + 3 = 12 >= 12" in a and "c(1) = 3 (the amdahl model's" in a for a in answer.assumptions
    )
    out = answer.to_json(["sw"])
    assert (out["replicas"], out["hosts"], out["scale_out"], out["extrapolated"]) == (8, 4, True, True)
    assert (out["max_streams"], out["max_streams_at_replicas"]) == (3, 1)
    # --per-host 3: c(3) = 2 and c(2) = 3, both measured: H * 2 >= 12 -> H >= 6; (H - 1) * 2 + 3 >= 12 ->
    # H >= 5.5 -> 6 hosts x 3 = 18 replicas, 12 streams, 13 with one lost.
    three = plan(points((2, 3), (3, 2)), 10, 20, replicas_per_host=3)
    assert (three.replicas, three.hosts, three.capacity, three.capacity_one_replica_lost) == (18, 6, 12, 13)


def test_flat_two_points_n_plus_one_at_host_granularity():
    # (1, 4), (2, 4): c2 == c1 -> flat, lambda = 4.
    # X = 3: c(1) = 4 >= 3 and c(2) = 4 -> 2 replicas on one host (the model's answer, measured counts).
    small = plan(points((1, 4), (2, 4)), 3)
    assert (small.model.sigma, small.replicas, small.hosts, small.scale_out) == (1, 2, 1, False)
    # X = 10: beyond 4 -> hosts of the best count, the fewest replicas of the most capacity: k = 1 (4).
    # Losing the replica of a 1-replica host leaves it at c(0) = 0: (H - 1) * 4 + 0 >= 10 -> H = 4
    # (3 hosts carry 12 >= 10 but only 8 with one lost). 4 hosts x 1 = 4 replicas, 16 streams, 12 lost.
    answer = plan(points((1, 4), (2, 4)), 10)
    assert (answer.replicas, answer.hosts, answer.replicas_per_host) == (4, 4, 1)
    assert (answer.capacity, answer.capacity_one_replica_lost) == (16, 12)


def test_usl_on_retrograde_points_peaks_within_them_and_scales_out():
    # The cold local sweep's batch mode: 1, 2, 3 replicas held 2, 3, 2. The USL fit has kappa > 0 and
    # peaks at N* = sqrt((1 - sigma) / kappa) < 3, so more replicas on one host do not help.
    # X = 10 at +20 % = 12: hosts of k = 2 (3 streams measured), one lost leaves c(1) = 2 (measured):
    # (H - 1) * 3 + 2 >= 12 -> H - 1 >= 3.33 -> H = 5 (4 hosts: 3 * 3 + 2 = 11 < 12); 10 replicas,
    # 15 streams, 14 with one lost.
    answer = plan(points((1, 2), (2, 3), (3, 2)), 10, 20)
    assert answer.model.kind == USL and answer.model.kappa > 0
    _, peak_at = answer.model.peak()
    assert peak_at is not None and peak_at <= 3
    assert any(
        "peaks at" in a and f"at {peak_at} replica(s) on one host, within the counts measured" in a
        for a in answer.assumptions
    )
    assert (answer.replicas, answer.hosts, answer.replicas_per_host) == (10, 5, 2)
    assert (answer.capacity, answer.capacity_one_replica_lost) == (15, 14)
    assert "(5 - 1) x 3 + 2 = 14 >= 12" in " ".join(answer.assumptions)


def test_beyond_the_contention_ceiling_scales_out():
    # c(N) = 40N / (N + 3) approaches 40 and never reaches it: X = 40 has no N on one host.
    # Hosts of k = 3 (20 measured), one lost leaves c(2) = 16 (measured): (H - 1) * 20 + 16 >= 40 -> H = 3
    # (2 hosts: 20 + 16 = 36 < 40); 9 replicas, 60 streams, 56 with one lost.
    answer = plan(points((1, 10), (2, 16), (3, 20)), 40)
    assert answer.model.peak() == (pytest.approx(40, rel=1e-3), None)
    assert (answer.replicas, answer.hosts, answer.capacity_one_replica_lost) == (9, 3, 56)


def test_past_a_usl_peak_scales_out():
    # kappa = 0.05, sigma = 0: c(N) = 10N / (1 + 0.05N(N - 1)): c(1) = 10, c(2) = 18.18, c(3) = 23.08,
    # c(4) = 25, c(5) = 25; peak N* = sqrt(1 / 0.05) = 4.47, c = 25. X = 20 needs c(N - 1) >= 20:
    # c(3) = 23.08 -> N = 4. X = 30 is beyond the peak: hosts of k = 4 (25), one lost leaves c(3) = 23.08:
    # (H - 1) * 25 + 23.08 >= 30 -> H = 2; H * 25 >= 30 -> H = 2: 8 replicas.
    measured = points((1, 10), (2, 20 / 1.1), (3, 30 / 1.3), (4, 25))
    assert plan(measured, 20).replicas == 4
    beyond = plan(measured, 30)
    assert beyond.to_json([])["max_streams"] == pytest.approx(25, rel=1e-3)
    assert (beyond.replicas, beyond.hosts, beyond.replicas_per_host, beyond.scale_out) == (8, 2, 4, True)


def test_beyond_one_host_the_answer_is_hosts_of_the_best_count():
    # c(N) = 6N / (1 + 0.1(N - 1) + 0.05N(N - 1)): c(1) = 6, c(2) = 12 / 1.2 = 10, c(3) = 18 / 1.5 = 12,
    # peak c(4) = 24 / 1.9 = 12.63. X = 20 at +25 %: 25 > 12.63, no N. Hosts of the best measured 3
    # replicas (12 each), one replica lost on one of them: (H - 1) * 12 + c(2) >= 25 -> H - 1 >= 1.25
    # -> H = 3, 9 replicas, 36 streams, 2 * 12 + 10 = 34 with one lost.
    answer = plan(points((1, 6), (2, 10), (3, 12)), 20, 25)
    assert answer.to_json([])["max_streams"] == pytest.approx(24 / 1.9, rel=1e-4)
    assert answer.reason == "3 host(s) of 3 replica(s) carry 36 streams, 34 with one replica lost: >= 25"


def test_several_runs_at_one_count_use_their_median():
    # 1 replica measured 8, 10, 11 -> median 10; X = 30 -> N = 4 as with lambda = 10.
    answer = plan(points((1, 8), (1, 10), (1, 11)), 30)
    assert answer.per_replica_capacity == 10 and answer.replicas == 4
    assert any("median" in a for a in answer.assumptions)


def test_no_point_with_a_capacity_is_an_error():
    with pytest.raises(PlanError, match="no input has both a replica count and a capacity"):
        plan(points((2, 0)), 10)


def test_per_host_override():
    answer = plan(points((2, 12)), 20, replicas_per_host=4)
    assert (answer.replicas, answer.hosts) == (5, 2)


SWEEP = {
    "version": 1,
    "target": "local",
    "target_info": {},
    "configs": [
        {
            "id": f"{mode}-r{n}",
            "server": {"mode": mode, "replicas": n, "omp_threads": 1},
            "workload": {"chunk_ms": 100},
            "status": "done",
            "run_dir": f"configs/{mode}-r{n}",
            "capacity": cap,
            "low": cap,
            "high": cap,
        }
        for mode, n, cap in (
            ("single", 1, 2),
            ("single", 2, 3),
            ("batch", 1, 6),
            ("batch", 2, 10),
            ("batch", 3, 12),
        )
    ]
    + [
        {
            "id": "batch-r4",
            "server": {"mode": "batch", "replicas": 4, "omp_threads": 1},
            "workload": {"chunk_ms": 100},
            "status": "pending",
            "capacity": None,
        }
    ],
    "best": "batch-r3",
}


def test_a_sweep_contributes_the_best_settings_at_every_replica_count():
    found, note = sweep_points(SWEEP, "sw")
    assert [(p.replicas, p.capacity) for p in found] == [(1, 6), (2, 10), (3, 12)]
    assert "mode=batch" in note and "omp_threads=1" in note


def test_without_a_named_best_the_sweeps_largest_capacity_is_used():
    unnamed = {**SWEEP, "best": None}
    found, _ = sweep_points(unnamed, "sw")
    assert [(p.replicas, p.capacity) for p in found] == [(1, 6), (2, 10), (3, 12)]
    nothing_done = {**SWEEP, "best": None, "configs": SWEEP["configs"][-1:]}
    with pytest.raises(PlanError, match="no configuration of the sweep is done with a capacity"):
        sweep_points(nothing_done, "sw")


def test_plan_command_json_from_a_single_ramp(tmp_path, capsys):
    # A fixture ramp with the knee at 8 on 3 replicas: capacity 8 -> 8/3 per replica, linear.
    # X = 20: (8/3)(N - 1) >= 20 -> N - 1 >= 7.5 -> N = 9; 3 per host -> 3 hosts.
    run = ramp(tmp_path / "r3", knee=8, replicas=3)
    assert main(["plan", "--from", str(run), "--target-streams", "20", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["replicas"], out["hosts"]) == (9, 3)
    assert out["per_replica_capacity"] == pytest.approx(8 / 3)
    assert out["efficiency"] == 1.0 and out["extrapolated"] is True and out["extrapolation_factor"] == 3.0
    assert out["model"]["kind"] == "linear" and out["inputs"] == [str(run)]
    assert any("linear scaling" in a for a in out["assumptions"])


def test_plan_command_from_a_directory_of_runs_and_a_sweep(tmp_path, capsys):
    # Runs of 1 and 2 replicas with capacities 4 and 8: Amdahl's sigma = (2*4 - 8) / 8 = 0, lambda = 4.
    # X = 10: 4(N - 1) >= 10 -> N = 4.
    for n, knee in ((1, 4), (2, 8)):
        ramp(tmp_path / "scaling" / f"r{n}", knee=knee, replicas=n)
    assert main(["plan", "--from", str(tmp_path / "scaling"), "--target-streams", "10"]) == 0
    out = capsys.readouterr().out
    assert "4 replicas on 2 host(s) or GPU(s), 2 per host" in out and "Amdahl" in out
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "sweep.json").write_text(json.dumps(SWEEP))
    # batch at 1, 2, 3 replicas: 6, 10, 12 -> a USL fit; its plateau is below 30 -> hosts of 3 replicas
    # (12): (H - 1) * 12 + c(2) = 10 >= 30 -> H = 3 (2 hosts: 22 < 30), 9 replicas.
    assert main(["plan", "--from", str(sweep), "--target-streams", "30", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"]["kind"] == "usl" and out["max_streams"] < 30
    assert (out["replicas"], out["hosts"], out["scale_out"], out["extrapolated"]) == (9, 3, True, True)


def omp_cores_sweep(with_omp_cores: bool) -> dict:
    """The cold local sweep's shape: omp_threads = max(1, 2 // replicas), so batch r1 runs 2 threads."""
    server = {"mode": ["batch"], "replicas": [1, 2, 3]}
    return {
        **SWEEP,
        "matrix": {
            "server": {**server, "omp_cores": 2} if with_omp_cores else {**server, "omp_threads": [1, 2]}
        },
        "configs": [
            {
                "id": f"batch-r{n}",
                "server": {"mode": "batch", "replicas": n, "omp_threads": max(1, 2 // n)},
                "workload": {},
                "status": "done",
                "capacity": cap,
            }
            for n, cap in ((1, 2), (2, 3), (3, 2))
        ],
        "best": "batch-r2",
    }


def test_a_sweep_sharing_omp_cores_groups_every_replica_count(tmp_path, capsys):
    found, note = sweep_points(omp_cores_sweep(True), "sw")
    assert [(p.replicas, p.capacity) for p in found] == [(1, 2), (2, 3), (3, 2)]
    assert "omp_threads ignored in that match" in note and "omp_threads=" not in note
    # With omp_threads an axis of its own, r1 (2 threads) is another setting: only r2 and r3 match.
    found, note = sweep_points(omp_cores_sweep(False), "sw")
    assert [(p.replicas, p.capacity) for p in found] == [(2, 3), (3, 2)]
    assert "omp_threads=1" in note and "ignored" not in note
    # The command: the USL over (1, 2), (2, 3), (3, 2) peaks within them; X = 10 at +20 % -> 5 hosts of
    # 2 replicas (arithmetic in test_usl_on_retrograde_points_peaks_within_them_and_scales_out).
    (tmp_path / "sweep.json").write_text(json.dumps(omp_cores_sweep(True)))
    assert (
        main(["plan", "--from", str(tmp_path), "--target-streams", "10", "--headroom", "20", "--json"]) == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert (out["replicas"], out["hosts"], out["replicas_per_host"]) == (10, 5, 2)
    assert out["capacity_one_replica_lost"] == 14 and out["extrapolated"] is True


def test_a_sweep_with_nothing_done_exits_1_with_one_line(tmp_path, capsys):
    (tmp_path / "sweep.json").write_text(
        json.dumps({**SWEEP, "best": None, "configs": SWEEP["configs"][-1:]})
    )
    assert main(["plan", "--from", str(tmp_path), "--target-streams", "5"]) == 1
    assert capsys.readouterr().err.strip().startswith("loadgen plan: ")


def test_plan_command_usage_errors(tmp_path, capsys):
    assert main(["plan", "--from", str(tmp_path / "missing"), "--target-streams", "5"]) == 2
    assert "does not exist" in capsys.readouterr().err
    for bad in (["--target-streams", "0"], ["--target-streams", "5", "--headroom", "-1"]):
        with pytest.raises(SystemExit) as exited:
            main(["plan", "--from", str(tmp_path), *bad])
        assert exited.value.code == 2
