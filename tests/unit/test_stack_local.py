"""The local stack without WhisperLive: settings, refusals before anything starts, and the rule that only
processes that still are what the stack started are ever signalled."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from loadgen.core.errors import EXIT_FAILED, EXIT_USAGE, UsageError
from stack import procs
from stack.cli import main
from stack.local import LocalStack, SimulatorSettings, StackError, StackSettings, problems
from stack.ports import LocalPorts, free_base_port
from stack.render import ScrapeJob

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def sleeper():
    process = subprocess.Popen(["sleep", "60"])
    yield process
    process.kill()
    process.wait()


def test_default_settings_are_usable():
    assert problems(StackSettings()) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"replicas": 0}, "--replicas 0: use 1..99"),
        ({"replicas": 100}, "--replicas 100: use 1..99"),
        (
            {"ports": LocalPorts(65500)},
            "--base-port 65500: 3 replica(s) need it and 113 ports above it; use 1024..65422",
        ),
        ({"ports": LocalPorts(80)}, "--base-port 80"),
        ({"max_clients": 0}, "--max-clients 0 must be at least 1"),
        ({"replica_args": ("--batch", "--port=1")}, "--port=1: set by the stack"),
        (
            {"simulator": SimulatorSettings(), "replica_args": ("--batch",)},
            "--batch: `whisperlive serve` flags need --backend whisperlive",
        ),
        ({"simulator": SimulatorSettings(capacity=0)}, "--capacity 0 must be at least 1"),
        ({"simulator": SimulatorSettings(base_lag_s=-1)}, "--base-lag -1 must be at least 0"),
        ({"simulator": SimulatorSettings(per_stream_lag_s=-0.5)}, "--per-stream-lag -0.5 must be at least 0"),
    ],
)
def test_unusable_settings_are_named(change, message):
    assert problems(replace(StackSettings(), **change))[0].startswith(message)


def test_settings_survive_stack_json():
    settings = StackSettings(
        replicas=2,
        omp_threads=1,
        replica_args=("--batch",),
        run_dir=Path("/tmp/x"),
        ports=LocalPorts(19090),
        extra_scrape_jobs=(ScrapeJob("loadgen", ("127.0.0.1:9094",)),),
    )
    assert StackSettings.from_json(settings.to_json()) == settings
    simulated = replace(settings, replica_args=(), simulator=SimulatorSettings(Path("/c"), 2, 1.5, 0.25))
    assert StackSettings.from_json(simulated.to_json()) == simulated
    assert (settings.backend, simulated.backend) == ("whisperlive", "simulator")


def test_simulator_replicas_get_the_lag_curve_and_the_stack_limit():
    command = SimulatorSettings(Path("/corpus"), 2, 1.5, 0.25).command("127.0.0.1", 9101, 4)
    assert command[:4] == [sys.executable, "-m", "loadgen", "simulate"]
    assert command[4:] == [
        *("--host", "127.0.0.1", "--port", "9101", "--audio-dir", "/corpus", "--capacity", "2"),
        *("--base-lag", "1.5", "--per-stream-lag", "0.25", "--max-clients", "4"),
    ]


def test_a_missing_corpus_or_alertmanager_config_is_refused_before_anything_starts(tmp_path):
    missing = tmp_path / "nothing"
    for change in ({"simulator": SimulatorSettings(audio_dir=missing)}, {"alertmanager_config": missing}):
        stack = LocalStack(replace(StackSettings(run_dir=tmp_path), **change))
        with pytest.raises(UsageError, match=f"{missing}: "):
            stack.up()
    assert not (tmp_path / "stack.json").exists()


def test_a_bad_replica_flag_is_refused_before_anything_starts(tmp_path):
    stack = LocalStack(StackSettings(run_dir=tmp_path, replica_args=("--batch-max-size", "0")))
    with pytest.raises(UsageError, match="--batch-max-size 0 must be at least 1"):
        stack.up()
    assert not (tmp_path / "stack.json").exists()


def test_a_port_in_use_is_named_with_its_process_and_nothing_starts(tmp_path):
    ports = LocalPorts(free_base_port(2))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", ports.replica_metrics(2)))
        busy.listen()
        stack = LocalStack(StackSettings(replicas=2, run_dir=tmp_path, ports=ports))
        with pytest.raises(StackError) as caught:
            stack.up()
    assert str(caught.value) == (
        f"port {ports.replica_metrics(2)} (whisperlive-2 metrics) is in use by pid {os.getpid()} "
        f"({procs._short_cmdline(os.getpid())}); stop it or move the stack with --base-port"
    )
    assert not (tmp_path / "stack.json").exists()


def test_cli_exit_codes_without_a_stack(tmp_path, capsys):
    assert main(["status", "--run-dir", str(tmp_path)]) == 1
    assert main(["down", "--run-dir", str(tmp_path)]) == 1
    assert main(["up", "--replicas", "0", "--run-dir", str(tmp_path)]) == 2
    assert main(["up", "--base-lag", "2", "--run-dir", str(tmp_path)]) == 2
    assert main(["render", "--check"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert (
        err[0] == f"stack: no stack in {tmp_path}: {tmp_path}/stack.json does not exist (start one with `up`)"
    )
    assert err[2] == "stack: --replicas 0: use 1..99"
    assert err[3] == "stack: --audio-dir/--capacity/--base-lag/--per-stream-lag need --backend simulator"


def test_the_wrapper_script_only_runs_the_stack_commands():
    result = subprocess.run([REPO / "scripts/local_stack.sh", "render"], capture_output=True, text=True)
    assert result.returncode == 2 and "usage:" in result.stderr


def test_only_the_process_that_was_started_is_recognized(sleeper):
    record = procs.ProcessRecord.of("sleeper", sleeper, 1, Path("log"))
    assert record.cmdline == ("sleep", "60")
    assert procs.live_process(record) is not None
    assert procs.live_process(replace(record, create_time=record.create_time - 1)) is None
    assert procs.live_process(replace(record, cmdline=("sleep", "61"))) is None
    assert procs.ProcessRecord.from_json(record.to_json()) == record


def test_stop_ends_the_process_and_kill_reports_it_gone(sleeper):
    record = procs.ProcessRecord.of("sleeper", sleeper, 1, Path("log"))
    procs.stop(record, grace_s=5)
    assert sleeper.poll() is not None
    assert procs.live_process(record) is None
    assert procs.kill(record) is False


# On SIGTERM the main thread ends first (the leader is a zombie) while another thread still holds the socket,
# as a replica's threads do while they unmap its model.
LINGERING = """
import ctypes, os, signal, socket, threading, time
listener = socket.create_server(("127.0.0.1", 0))
def linger(*_):
    threading.Thread(target=lambda: (time.sleep(1.0), os._exit(0))).start()
    ctypes.CDLL(None).pthread_exit(None)
signal.signal(signal.SIGTERM, linger)
print(listener.getsockname()[1], flush=True)
time.sleep(60)
"""


def test_stop_waits_for_the_last_thread_so_the_port_is_free():
    process = subprocess.Popen([sys.executable, "-c", LINGERING], stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        record = procs.ProcessRecord.of("lingering", process, port, Path("log"))
        procs.stop(record, grace_s=5)
        assert not procs.listening("127.0.0.1", port)
        assert procs.live_process(record) is None
    finally:
        process.kill()
        process.wait()


def test_down_leaves_alone_a_pid_that_is_no_longer_what_was_started(tmp_path, sleeper):
    stack = LocalStack(StackSettings(replicas=1, run_dir=tmp_path))
    foreign = replace(
        procs.ProcessRecord.of("whisperlive-1", sleeper, 1, Path("log")), cmdline=(sys.executable,)
    )
    stack._records["whisperlive-1"] = foreign
    (tmp_path / "pids").mkdir()
    stack.pid_path("whisperlive-1").write_text(f"{sleeper.pid}\n")
    assert stack.down() == []
    assert sleeper.poll() is None
    assert not stack.pid_path("whisperlive-1").exists()


def test_replica_actions_exit_with_the_error_table_codes(tmp_path, capsys):
    """`python -m stack replica` (what loadgen's chaos runs): a replica outside the stack is a usage
    error (2), a recorded replica whose process is gone cannot be signalled (1)."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    record = procs.ProcessRecord("whisperlive-1", dead.pid, 0.0, ("python",), 9091, str(tmp_path / "w1.log"))
    settings = StackSettings(replicas=1, run_dir=tmp_path)
    state = {"settings": settings.to_json(), "processes": {"whisperlive-1": record.to_json()}}
    (tmp_path / "stack.json").write_text(json.dumps(state))
    assert main(["replica", "kill", "2", "--run-dir", str(tmp_path)]) == EXIT_USAGE
    assert main(["replica", "pause", "1", "--run-dir", str(tmp_path)]) == EXIT_FAILED
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "stack: whisperlive-2 is not in the stack: it has replicas 1..1",
        "stack: whisperlive-1 is not running",
    ]
    with pytest.raises(SystemExit) as refused:
        main(["replica", "explode", "1", "--run-dir", str(tmp_path)])
    assert refused.value.code == EXIT_USAGE
