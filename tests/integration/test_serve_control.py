"""`loadgen serve` stays up and follows its control API; `loadgen ramp --control` drives it.

Both run as real processes against `loadgen simulate` on 127.0.0.1; /metrics is read between steps to
check that the target and the step are one continuous series of the same process.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from loadgen.cli.entry import main
from loadgen.data.run_dir import RunDir
from tests.metrics_text import samples_of
from tests.simulator_process import loadgen_process, simulator


def _serve_args(url: str, corpus, control: int, metrics: int) -> list[str]:
    """`loadgen serve` with continuous sessions, fast connects, the given control and metrics ports."""
    return [
        "serve",
        "--url",
        url,
        "--audio-dir",
        str(corpus),
        "--mode",
        "continuous",
        "--connect-rate",
        "20",
        "--control-port",
        str(control),
        "--metrics-port",
        str(metrics),
    ]


def _call(base: str, method: str, path: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _wait_active(base: str, clients: int, timeout_s: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        status = _call(base, "GET", "/status")
        if status["active"] == clients and status["clients"] == clients:
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.1)


def _metrics(port: int) -> dict[str, float]:
    """Unlabelled samples of the serve process's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        samples = samples_of(response.read().decode())
    return {name: value for (name, labels), value in samples.items() if not labels}


@pytest.mark.timeout(60)
def test_serve_follows_the_target_and_exports_one_continuous_series(generated_corpus, free_port, tmp_path):
    control, metrics = free_port(), free_port()
    sessions = tmp_path / "serve-sessions.jsonl"
    with simulator(generated_corpus, free_port(), tmp_path / "sim.log", capacity=10) as url:
        args = [*_serve_args(url, generated_corpus, control, metrics), "--output-file", str(sessions)]
        with loadgen_process(args, control, tmp_path / "serve.log") as serve:
            base = f"http://127.0.0.1:{control}"
            assert _metrics(metrics)["loadgen_step"] == -1
            for step, clients in enumerate((1, 3, 2)):
                _call(base, "POST", "/target", {"clients": clients, "step": step})
                status = _wait_active(base, clients)
                assert (status["target"], status["step"]) == (clients, step)
                exposed = _metrics(metrics)
                assert exposed["loadgen_target_clients"] == clients
                assert exposed["loadgen_active_clients"] == clients
                assert exposed["loadgen_step"] == step
            _call(base, "POST", "/window")
            time.sleep(1.5)
            window = _call(base, "GET", "/window")
            assert window["active"] == 2 and window["window"]["transcript_lag"]["count"] > 0
            assert window["window"]["active_clients"] == {"min": 2, "max": 2, "avg": 2.0}
            with pytest.raises(urllib.error.HTTPError) as bad:
                _call(base, "POST", "/target", {"clients": -1})
            assert bad.value.code == 400 and "clients" in json.loads(bad.value.read())["error"]
            assert _call(base, "POST", "/stop") == {"stopping": True}
            assert serve.wait(timeout=15) == 0
    records = [json.loads(line) for line in sessions.read_text().splitlines()]
    # one client retired when the target went from 3 to 2, the last two when it stopped
    assert sorted(r["error_kind"] for r in records) == ["retired", "stopped", "stopped"]
    assert {r["outcome"] for r in records} == {"stopped"}


@pytest.mark.timeout(60)
def test_ramp_drives_a_running_serve_and_gets_its_sessions(generated_corpus, free_port, tmp_path, capsys):
    control = free_port()
    with simulator(generated_corpus, free_port(), tmp_path / "sim.log", capacity=2) as url:
        args = _serve_args(url, generated_corpus, control, 0)
        with loadgen_process(args, control, tmp_path / "serve.log"):
            base = f"http://127.0.0.1:{control}"
            run_dir = tmp_path / "run"
            code = main(
                [
                    "ramp",
                    "--control",
                    base,
                    "--steps",
                    "2,3",
                    "--warmup",
                    "1",
                    "--hold",
                    "2",
                    "--run-dir",
                    str(run_dir),
                    "--no-live",
                ]
            )
            assert code == 0, capsys.readouterr().out
            status = _call(base, "GET", "/status")
            assert status["target"] == 0 and status["recording"] is None  # left idle, still up
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["control"] == base and manifest["url"] == url
    assert manifest["outcome"]["capacity"] == 2
    sessions, _ = RunDir(run_dir).read_sessions()
    assert len(sessions) == 3  # every client of the run, written by the serve process into the run dir


def test_ramp_against_no_serve_exits_4(free_port, tmp_path, capsys):
    code = main(["ramp", "--control", f"http://127.0.0.1:{free_port()}", "--run-dir", str(tmp_path)])
    assert code == 4
    assert "control API" in capsys.readouterr().err
