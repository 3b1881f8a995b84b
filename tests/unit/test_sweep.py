"""`loadgen sweep`'s pure parts: the matrix's expansion, the bracket search and its prediction, sweep.json's
state transitions and resume, the matrix file's parsing, the ramp command a configuration gets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadgen.cli.commands.ramp import _search as ramp_search
from loadgen.cli.commands.ramp import bracket_spec
from loadgen.cli.commands.sweep import COMPOSE_KEYS, KUBERNETES_KEYS, make_target, target_table
from loadgen.cli.entry import build_parser
from loadgen.core.errors import SetupError, UsageError
from loadgen.core.matrix import ServerSettings, SweepConfig, expand
from loadgen.core.search import BISECT, GROW, SHRINK, BracketSearch, max_concurrent
from loadgen.core.sweep_state import (
    DONE,
    FAILED,
    INTERRUPTED,
    PENDING,
    RUNNING,
    ConfigRun,
    RampResult,
    SweepState,
    baseline_sources,
    fail,
    finish,
    predict_bracket,
    resume,
    start,
)
from loadgen.sweep.compose import ComposeTarget
from loadgen.sweep.kubernetes import KubernetesTarget
from loadgen.sweep.runner import Sweep, load_plan, parse_matrix, plan_of, ramp_command, ramp_result
from loadgen.sweep.targets import SimulatorModel, StackTarget

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "sweeps"


# The matrix


def test_expand_is_the_product_with_batch_settings_for_batch_only():
    configs = expand(
        {
            "server": {
                "mode": ["single", "batch"],
                "batch_max_size": [8, 32],
                "replicas": [1, 3],
                "omp_cores": 2,
            }
        }
    )
    # the axes' order: mode, then batch_max_size, then replicas
    assert [c.id for c in configs] == [
        "single-r1", "single-r3", "batch-b8-r1", "batch-b8-r3", "batch-b32-r1", "batch-b32-r3",
    ]  # fmt: skip
    by_id = {c.id: c.server for c in configs}
    assert by_id["single-r3"] == ServerSettings("single", 3, omp_threads=1)
    assert by_id["batch-b32-r1"] == ServerSettings("batch", 1, batch_max_size=32, omp_threads=2)
    assert by_id["batch-b8-r3"].serve_args() == (
        "--model", "tiny.en", "--omp-threads", "1", "--batch", "--batch-max-size", "8",
    )  # fmt: skip
    assert by_id["single-r1"].serve_args() == ("--model", "tiny.en", "--omp-threads", "2")


def test_workload_axes_become_ramp_flags_and_name_the_config():
    configs = expand(
        {
            "server": {"mode": "batch", "batch_max_queue_wait_s": 0.5},
            "workload": {"speech-ratio": [0.3, 0.6], "no-vad": True},
        }
    )
    assert [c.id for c in configs] == ["batch-speech-ratio0.3", "batch-speech-ratio0.6"]
    assert configs[0].workload == (("--speech-ratio", "0.3"), ("--no-vad", "true"))
    assert configs[0].ramp_args == ("--speech-ratio", "0.3", "--no-vad")
    assert "--batch-max-queue-wait-s" in configs[0].server.serve_args()


def test_exclude_drops_matching_configs():
    matrix = {
        "server": {"mode": ["single", "batch"], "replicas": [1, 2, 3]},
        "exclude": [{"mode": "single", "replicas": 3}],
    }
    assert [c.id for c in expand(matrix)] == ["single-r1", "single-r2", "batch-r1", "batch-r2", "batch-r3"]


def test_settings_round_trip_through_json():
    settings = ServerSettings("batch", 2, 16, 0.5, "base", None, 1, 8)
    assert ServerSettings.from_json(json.loads(json.dumps(settings.to_json_dict()))) == settings


@pytest.mark.parametrize(
    ("matrix", "says"),
    [
        ({"server": {"mode": "turbo"}}, "mode 'turbo'"),
        ({"server": {"replicas": [1, 0]}}, "replicas 0"),
        ({"server": {"gpus": 2}}, "unknown key(s) gpus"),
        ({"servers": {}}, "unknown section(s) servers"),
        ({"server": {"omp_cores": 2, "omp_threads": 1}}, "omp_cores and omp_threads"),
        ({"server": {"compute_type": "int8"}}, "--compute-type"),
        ({"server": {"replicas": [1]}, "exclude": [{"replicas": 1}]}, "no configuration left"),
        ({"server": {"replicas": [{"a": 1}]}}, "scalars"),
        ({"exclude": [{"colour": 1}]}, "exclude: unknown key(s) colour"),
    ],
)
def test_bad_matrices_say_what_is_wrong_in_one_line(matrix, says):
    with pytest.raises(UsageError, match=None) as error:
        expand(matrix)
    assert says in str(error.value) and "\n" not in str(error.value)


# The bracket search


def _search(search: BracketSearch, knee: int) -> tuple[list[int], list[str]]:
    steps, phases = [], []
    while (step := search.next()) is not None:
        steps.append(step.clients)
        phases.append(step.phase)
        search.record(step.clients, step.clients <= knee)
    return steps, phases


@pytest.mark.parametrize(
    ("low", "high", "knee", "steps"),
    [
        (4, 5, 4, [4, 5]),  # a right guess: two steps
        (4, 5, 5, [4, 5, 6]),  # one off: one more
        (2, 3, 4, [2, 3, 4, 6, 5]),  # growing: 1, 2, 4 past the guess, then bisection
        (8, 9, 3, [8, 7, 5, 1, 3, 4]),  # shrinking the same way
        (8, 9, 0, [8, 7, 5, 1]),  # even 1 failed: no capacity
        (6, 11, 8, [6, 11, 8, 9]),  # a wide bracket is bisected
        (250, 256, 300, [250, 256]),  # capped at max_clients
    ],
)
def test_bracket_search_finds_the_knee_from_a_guess(low, high, knee, steps):
    search = BracketSearch(low, high)
    assert _search(search, knee)[0] == steps
    assert max_concurrent(search.results) == (knee if knee else None) or knee > 256


def test_bracket_search_phases_and_resolution():
    assert _search(BracketSearch(2, 3), 4)[1] == [GROW, GROW, GROW, GROW, BISECT]
    assert _search(BracketSearch(8, 9), 3)[1][1] == SHRINK
    coarse = BracketSearch(10, 11, resolution=4)
    assert _search(coarse, 30)[0] == [10, 11, 12, 14, 18, 26, 42, 34, 30]  # stops within 4 clients


def test_bracket_search_rejects_a_reversed_bracket():
    with pytest.raises(ValueError, match="low < high"):
        BracketSearch(5, 5)


def test_ramp_bracket_flag():
    assert bracket_spec("6,11") == (6, 11)
    for bad in ("6", "11,6", "0,3", "a,b"):
        with pytest.raises(Exception, match="LO,HI"):
            bracket_spec(bad)
    args = build_parser().parse_args(["ramp", "--bracket", "3,4", "--repeat", "2"])
    assert args.bracket == (3, 4) and args.repeat == 2
    for schedule in (["--steps", "1,2"], ["--arrival", "poisson", "--rates", "0.1,0.2"]):
        args = build_parser().parse_args(["ramp", "--bracket", "3,4", *schedule])
        with pytest.raises(UsageError, match="--bracket starts the adaptive search"):
            ramp_search(args)


# Warm start: the predicted bracket


def _config(mode: str, replicas: int, size: int | None = None) -> SweepConfig:
    settings = ServerSettings(mode, replicas, batch_max_size=size)
    return SweepConfig(f"{mode}-r{replicas}", settings, (), ())


def _done(config: SweepConfig, capacity: float) -> ConfigRun:
    return ConfigRun(config, DONE, capacity=capacity)


def test_no_bracket_without_a_done_config():
    pending = ConfigRun(_config("single", 1))
    assert predict_bracket(ServerSettings(), (), [pending], 256) is None
    assert predict_bracket(ServerSettings(), (), [ConfigRun(_config("single", 1), FAILED)], 256) is None


def test_bracket_scales_the_nearest_done_capacity_by_replicas():
    found = [
        _done(_config("single", 1), 2),
        _done(_config("batch", 1, 8), 8),
        _done(_config("batch", 3, 8), 21),
    ]
    assert predict_bracket(ServerSettings("batch", 2, 8), (), found, 256) == (
        16,
        17,
    )  # nearest: r1 (tie: first)
    assert predict_bracket(ServerSettings("single", 3), (), found, 256) == (6, 7)
    assert predict_bracket(ServerSettings("batch", 3, 8), (), found[:2], 256) == (24, 25)
    assert predict_bracket(ServerSettings("batch", 4, 8), (), found, 256) == (28, 29)  # from r3: 21 x 4/3
    assert predict_bracket(ServerSettings("batch", 3, 8), (), found, 20) == (19, 20)  # kept below the cap
    assert predict_bracket(ServerSettings("single", 1), (), [_done(_config("single", 3), 1)], 256) == (1, 2)


# sweep.json: transitions, best, resume


def _state(runs: tuple[ConfigRun, ...]) -> SweepState:
    return SweepState("m.toml", {"server": {}}, "simulator", {}, 100.0, 100.0, 0.0, True, 1, runs)


def test_a_config_moves_pending_running_done_and_the_best_is_named():
    a, b = ConfigRun(_config("single", 1)), ConfigRun(_config("batch", 1))
    assert a.status == PENDING and a.run_dir == "configs/single-r1"
    running = start(a, 110.0, (2, 3))
    assert (running.status, running.started_at, running.bracket) == (RUNNING, 110.0, (2, 3))
    done = finish(running, 130.5, RampResult(4, 3, 3, 3, 4))
    assert (done.status, done.capacity, done.first_failure, done.wall_s, done.steps) == (DONE, 3, 4, 20.5, 4)
    # a ramp that judged a step and found no capacity is a finished measurement: done, its reason kept
    none = finish(start(b, 140.0, None), 150.0, RampResult(1, None, None, None, 1, "even 1 client failed"))
    assert (none.status, none.capacity, none.error) == (DONE, None, "even 1 client failed")
    crashed = RampResult(0, None, None, None, None, "the ramp exited 1 with no outcome", judged=False)
    assert finish(start(b, 140.0, None), 150.0, crashed).status == FAILED
    judged_nothing = RampResult(0, None, None, None, None, "no step", judged=True)
    assert finish(start(b, 140.0, None), 150.0, judged_nothing).status == FAILED
    state = _state((a, b)).with_run(done, 131.0, 31.0).with_run(none, 151.0, 51.0)
    data = state.to_json()
    assert data["best"] == "single-r1" and data["version"] == 1 and data["wall_s"] == 51.0
    assert [c["status"] for c in data["configs"]] == [DONE, DONE]
    assert data["configs"][1]["capacity"] is None and data["configs"][1]["error"] == "even 1 client failed"
    assert data["configs"][0]["bracket"] == [2, 3] and data["configs"][0]["workload"] == {}
    assert fail(start(b, 1.0, None), 3.0, "stop", INTERRUPTED).status == INTERRUPTED


def test_resume_keeps_done_configs_and_reruns_the_others():
    configs = (_config("single", 1), _config("batch", 1), _config("batch", 2))
    runs = (
        finish(start(ConfigRun(configs[0]), 1.0, None), 9.0, RampResult(4, 2, 2, 2, 3)),
        start(ConfigRun(configs[1]), 10.0, (2, 3)),  # killed while running
        ConfigRun(configs[2]),
    )
    previous = json.loads(json.dumps(_state(runs).to_json()))
    resumed = resume(previous, configs, {"server": {}})
    assert [r.status for r in resumed] == [DONE, PENDING, PENDING]
    assert resumed[0] == runs[0]
    with pytest.raises(SetupError, match="another matrix"):
        resume(previous, configs, {"server": {"replicas": 2}})


# The matrix file and the ramp command


def test_the_examples_parse():
    local = plan_of(
        EXAMPLES / "local-cpu.toml", parse_matrix("local-cpu.toml", (EXAMPLES / "local-cpu.toml").read_text())
    )
    assert [c.id for c in local.configs] == [
        "single-r1",
        "single-r2",
        "single-r3",
        "batch-r1",
        "batch-r2",
        "batch-r3",
    ]
    assert local.target == "local" and local.max_clients == 16 and not local.explicit
    assert [c.server.omp_threads for c in local.configs] == [2, 1, 1, 2, 1, 1]
    sim = plan_of(
        EXAMPLES / "simulator.toml", parse_matrix("simulator.toml", (EXAMPLES / "simulator.toml").read_text())
    )
    model = SimulatorModel.from_matrix(sim.matrix["simulator"])
    assert [model.knee(c.server) for c in sim.configs] == [2, 4, 4, 8]


def test_yaml_matrices_parse_like_toml():
    text = "server:\n  mode: [single, batch]\n  replicas: 2\nramp:\n  args: [--hold, '4']\n"
    plan = plan_of(Path("m.yaml"), parse_matrix("m.yaml", text))
    assert [c.id for c in plan.configs] == ["single", "batch"] and plan.ramp_args == ("--hold", "4")


@pytest.mark.parametrize(
    ("name", "text", "says"),
    [
        ("m.json", "{}", "name it .toml"),
        ("m.toml", "server = [", "not TOML"),
        (
            "m.toml",
            '[ramp]\nargs = ["--url", "ws://x"]\n[server]\nmode = "single"',
            "--url is set by the sweep",
        ),
        ("m.toml", "[sweep]\nrepeat = 0", "repeat must be"),
        ("m.toml", "[sweep]\ncolour = 1", "[sweep]: a table of the keys"),
    ],
)
def test_bad_matrix_files(name, text, says):
    with pytest.raises(UsageError) as error:
        plan_of(Path(name), parse_matrix(name, text))
    assert says in str(error.value)


def test_ramp_command_carries_bracket_repeat_replicas_and_the_targets_prometheus():
    plan = plan_of(Path("m.toml"), {"ramp": {"args": ["--hold", "4"]}, "workload": {"speech-ratio": [0.5]}})
    run = start(ConfigRun(plan.configs[0]), 1.0, (3, 4))
    command = ramp_command(plan, run, "ws://h:1", Path("out/configs/x"), 3, {"prometheus_url": "http://p"})
    assert command[1:] == [
        "-m", "loadgen", "ramp", "--url", "ws://h:1", "--run-dir", "out/configs/x", "--no-live",
        "--hold", "4", "--speech-ratio", "0.5", "--replicas", "1", "--prometheus-url", "http://p",
        "--bracket", "3,4", "--repeat", "3",
    ]  # fmt: skip


def test_ramp_result_reads_the_run_dirs_outcome(tmp_path):
    log = tmp_path / "ramp.log"
    crashed = ramp_result(tmp_path, 1, log)
    assert "no outcome" in (crashed.error or "") and not crashed.judged
    (tmp_path / "run.json").write_text(
        json.dumps({"outcome": {"capacity": 5, "low": 4, "high": 6, "reason": "r"}})
    )
    (tmp_path / "steps.jsonl").write_text('{"index": 0}\n{"index": 1}\n')
    assert ramp_result(tmp_path, 0, log) == RampResult(2, 5, 4, 6, None)
    (tmp_path / "run.json").write_text(
        json.dumps({"outcome": {"capacity": None, "first_failure": 1, "reason": "even 1"}})
    )
    assert ramp_result(tmp_path, 1, log) == RampResult(2, None, None, None, 1, "even 1")


def test_an_existing_sweep_dir_of_another_matrix_or_target_is_refused(tmp_path):
    plan = plan_of(Path("m.toml"), {"server": {"replicas": [1, 2]}})
    simulator = StackTarget(tmp_path / "stack", 30000, SimulatorModel())
    Sweep(plan, tmp_path, simulator, warm_start=True, repeat=1).save()  # no process starts before run()
    state = json.loads((tmp_path / "sweep.json").read_text())
    assert [c["status"] for c in state["configs"]] == ["pending", "pending"] and state["best"] is None
    assert (
        state["target"] == "simulator" and state["target_info"]["prometheus_url"] == "http://127.0.0.1:30002"
    )
    assert (
        Sweep(plan, tmp_path, simulator, True, 1).state.configs
        == Sweep(plan, tmp_path, simulator, True, 1).state.configs
    )
    with pytest.raises(SetupError, match="on the simulator target, not local"):
        Sweep(plan, tmp_path, StackTarget(tmp_path / "stack", 30000), True, 1)
    other = plan_of(Path("m.toml"), {"server": {"replicas": [1, 3]}})
    with pytest.raises(SetupError, match="another matrix"):
        Sweep(other, tmp_path, simulator, True, 1)


def test_the_best_is_the_reports_rule_a_tie_goes_to_fewer_replicas():
    three, one = ConfigRun(_config("batch", 3)), ConfigRun(_config("batch", 1))
    runs = [finish(start(r, 1.0, None), 2.0, RampResult(3, 8, 8, 8, 9)) for r in (three, one)]
    assert _state(tuple(runs)).best() == "batch-r1"  # matrix order alone would name batch-r3


def test_a_warm_start_takes_the_1_client_wer_of_the_same_model_and_workload(tmp_path):
    plan = plan_of(
        Path("m.toml"), {"server": {"mode": ["single", "batch"], "replicas": [1, 2], "model": "tiny.en"}}
    )
    sweep = Sweep(plan, tmp_path, StackTarget(tmp_path / "stack", 30000, SimulatorModel()), True, 1)
    first, *others = sweep.state.configs
    assert baseline_sources(others[0].config, sweep.state.configs) == []  # nothing done yet
    sweep.state = sweep.state.with_run(
        finish(start(first, 1.0, None), 2.0, RampResult(3, 4, 4, 4, 5)), 3.0, 2.0
    )
    assert baseline_sources(others[0].config, sweep.state.configs) == [sweep.state.configs[0]]
    other_model = plan_of(Path("m.toml"), {"server": {"model": "base"}}).configs[0]
    assert baseline_sources(other_model, sweep.state.configs) == []
    assert sweep._known_baseline(others[0]) is None  # done, but no steps.jsonl to read
    steps = tmp_path / first.run_dir / "steps.jsonl"
    steps.parent.mkdir(parents=True)
    steps.write_text(
        '{"index": 0, "clients": 2, "baseline_wer": 0.3}\n{"index": 1, "clients": 1, "baseline_wer": 0.07}\n'
    )
    assert sweep._known_baseline(others[0]) == (0.07, first.config.id)
    run = start(others[0], 5.0, (3, 4), (0.07, first.config.id))
    assert (run.baseline_wer, run.baseline_from) == (0.07, first.config.id)
    command = ramp_command(plan, run, "ws://h:1", Path("r"), 1, {})
    assert command[command.index("--baseline-wer") + 1] == "0.07"
    assert "--baseline-wer" not in ramp_command(
        plan, start(others[0], 5.0, (3, 4)), "ws://h:1", Path("r"), 1, {}
    )
    data = json.loads(json.dumps(_state((finish(run, 9.0, RampResult(2, 3, 3, 3, 4)),)).to_json()))
    assert data["configs"][0]["baseline_from"] == first.config.id
    assert resume(data, (others[0].config,), {"server": {}})[0].baseline_wer == 0.07


# --target compose | kubernetes: the matrix's [compose] / [kubernetes] tables


def test_compose_and_kubernetes_targets_read_their_matrix_table(tmp_path, monkeypatch):
    made: list[dict[str, str]] = []
    # A double: ComposeTarget.from_env opens a Docker engine, and none runs here.
    monkeypatch.setattr(ComposeTarget, "from_env", lambda **kw: made.append(kw) or "compose target")
    table = {"url": "ws://lb:9090", "service": "wl", "project": "p"}
    plan = plan_of(Path("m.toml"), {"compose": table})
    assert make_target("compose", plan, tmp_path, 9090) == "compose target" and made == [table]
    k8s = {"url": "ws://127.0.0.1:9090", "namespace": "ns", "context": "c"}
    target = make_target("kubernetes", plan_of(Path("m.toml"), {"kubernetes": k8s}), tmp_path, 9090)
    assert isinstance(target, KubernetesTarget)
    assert (target.url, target.namespace, target.deployment, target.context) == (
        "ws://127.0.0.1:9090",
        "ns",
        "whisperlive",
        "c",
    )


@pytest.mark.parametrize(
    ("name", "table", "says"),
    [
        ("kubernetes", {}, r"--target kubernetes needs the balancer's URL .*\[kubernetes\] url ="),
        ("compose", {"service": "wl"}, r"--target compose needs the balancer's URL"),
        (
            "compose",
            {"url": "ws://x", "replicas": "2"},
            r"matrix \[compose\]: a table of the keys url, service",
        ),
        ("kubernetes", {"url": 9090}, r"matrix \[kubernetes\]: url must be non-empty strings"),
    ],
)
def test_a_bad_target_table_is_one_line(name, table, says):
    with pytest.raises(UsageError, match=says):
        target_table({name: table}, name, COMPOSE_KEYS if name == "compose" else KUBERNETES_KEYS)


@pytest.mark.parametrize("matrix", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.name)
def test_every_example_matrix_loads_and_expands(matrix: Path) -> None:
    plan = load_plan(matrix)
    assert plan.configs
    assert len({c.id for c in plan.configs}) == len(plan.configs)  # ids name directories: unique
