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


def test_superlinear_two_points_are_clamped_to_linear():
    # (1, 10), (2, 24): sigma = (2*10 - 24) / (24*1) < 0 -> 0: lambda = 10, linear at best.
    answer = plan(points((1, 10), (2, 24)), 25)
    assert answer.model.sigma == 0 and answer.model.lam == 10
    assert answer.replicas == 4  # 10 * 3 = 30 >= 25, 10 * 2 = 20 < 25


def test_unreachable_under_contention_names_the_ceiling():
    # c(N) = 40N / (N + 3) approaches 40 and never reaches it: X = 40 has no N.
    answer = plan(points((1, 10), (2, 16), (3, 20)), 40)
    assert answer.replicas is None and answer.hosts is None
    assert "peaks at 40.0 streams (approached, never reached)" in answer.reason


def test_unreachable_past_a_usl_peak():
    # kappa = 0.05, sigma = 0: c(N) = 10N / (1 + 0.05N(N - 1)): c(1) = 10, c(2) = 18.18, c(3) = 23.08,
    # c(4) = 25, c(5) = 25; peak N* = sqrt(1 / 0.05) = 4.47, c = 25. X = 30 is beyond it; X = 20 needs
    # c(N - 1) >= 20: c(3) = 23.08 -> N = 4.
    measured = points((1, 10), (2, 20 / 1.1), (3, 30 / 1.3), (4, 25))
    beyond = plan(measured, 30)
    assert beyond.replicas is None
    assert beyond.to_json([])["max_streams"] == pytest.approx(25, rel=1e-3)
    assert "peaks at 25.0 streams at 4 replicas" in beyond.reason or "at 5 replicas" in beyond.reason
    assert plan(measured, 20).replicas == 4


def test_unreachable_on_one_host_hints_at_more_hosts():
    # c(N) = 6N / (1 + 0.1(N - 1) + 0.05N(N - 1)): c(1) = 6, c(2) = 12 / 1.2 = 10, c(3) = 18 / 1.5 = 12,
    # peak c(4) = 24 / 1.9 = 12.63. X = 20 at +25 %: 25 > 12.63, no N. Hosts of the best measured 3
    # replicas (12 each), one replica lost on one of them: (H - 1) * 12 + c(2) >= 25 -> H - 1 >= 1.25
    # -> H = 3, 9 replicas.
    answer = plan(points((1, 6), (2, 10), (3, 12)), 20, 25)
    assert answer.replicas is None
    assert answer.to_json([])["max_streams"] == pytest.approx(24 / 1.9, rel=1e-4)
    assert "3 host(s) of 3 replica(s), 12 streams each, = 9 replicas" in answer.reason


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
    # batch at 1, 2, 3 replicas: 6, 10, 12 -> a USL fit; its plateau is below 30 -> no plan, exit 1.
    assert main(["plan", "--from", str(sweep), "--target-streams", "30", "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["replicas"] is None and out["model"]["kind"] == "usl" and out["max_streams"] < 30


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
