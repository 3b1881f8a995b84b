"""Chaos specs (pure) and the Compose target's container selection (a Docker engine cannot run here)."""

import pytest

from loadgen.chaos.faults import ChaosSpec, ComposeChaos, act_and_log, parse_chaos
from loadgen.core.errors import UsageError


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("kill-replica@20", ChaosSpec("kill", 20.0, 1)),
        ("kill-replica:2@20", ChaosSpec("kill", 20.0, 2)),
        ("pause-replica:3@15.5:8", ChaosSpec("pause", 15.5, 3, 8.0)),
        ("pause-replica@5", ChaosSpec("pause", 5.0, 1, 10.0)),
        ("restart-replica@30", ChaosSpec("restart", 30.0, 1)),
    ],
)
def test_specs_parse(text, spec):
    assert parse_chaos(text) == spec
    assert parse_chaos(str(spec)) == spec


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("kill@20", "expected ACTION-replica"),
        ("explode-replica@20", "unknown action 'explode'"),
        ("kill-replica:0@20", "numbered from 1"),
        ("kill-replica@20:5", "only pause takes a duration"),
        ("kill-replica@1.2.3", "expected ACTION-replica"),
    ],
)
def test_bad_specs_are_one_clear_line(text, says):
    with pytest.raises(UsageError) as exc:
        parse_chaos(text)
    assert says in str(exc.value) and "\n" not in str(exc.value)


class FakeContainer:
    """Test double of a docker SDK container: no Docker engine runs on this machine."""

    def __init__(self, name):
        self.name = name
        self.calls = []

    def __getattr__(self, action):
        return lambda: self.calls.append(action)


class FakeContainers:
    def __init__(self, found):
        self.found = found
        self.filters = None

    def list(self, all, filters):
        self.filters = filters
        return self.found


class FakeClient:
    def __init__(self, found):
        self.containers = FakeContainers(found)


def test_compose_chaos_selects_by_service_and_replica_number_and_logs_the_event():
    container = FakeContainer("capacity-whisperlive-2")
    client = FakeClient([container])
    events = []
    detail = act_and_log(ComposeChaos(client, project="capacity"), "pause", 2, events.append, step=3)
    assert container.calls == ["pause"]
    assert client.containers.filters == {
        "label": [
            "com.docker.compose.service=whisperlive",
            "com.docker.compose.container-number=2",
            "com.docker.compose.project=capacity",
        ]
    }
    [event] = events
    assert event["kind"] == "chaos" and event["action"] == "pause" and event["step"] == 3
    assert event["target"] == "whisperlive-2"
    assert event["detail"] == detail == "docker pause capacity-whisperlive-2"
    act_and_log(ComposeChaos(client), "resume", 2, events.append, step=3)
    assert container.calls == ["pause", "unpause"]


def test_compose_chaos_without_such_a_replica_is_a_usage_error():
    with pytest.raises(UsageError, match="no Compose container for service whisperlive replica 4"):
        ComposeChaos(FakeClient([])).act("kill", 4)


def test_a_replica_outside_the_local_stack_is_one_clear_line(tmp_path):
    """Through the real `python -m stack replica` process, on a stack.json of 3 replicas none started."""
    import json

    from loadgen.chaos.faults import LocalChaos
    from stack.local import StackSettings

    settings = StackSettings(replicas=3, run_dir=tmp_path)
    (tmp_path / "stack.json").write_text(json.dumps({"settings": settings.to_json(), "processes": {}}))
    chaos = LocalChaos.attach(tmp_path)
    assert chaos.name(7) == "whisperlive-7"
    with pytest.raises(UsageError, match=r"^whisperlive-7 is not in the stack: it has replicas 1\.\.3$"):
        chaos.act("kill", 7)


def test_no_local_stack_is_refused_when_the_target_opens(tmp_path):
    from loadgen.chaos.faults import open_target

    with pytest.raises(UsageError, match=f"^no stack in {tmp_path}: "):
        open_target(compose=False, stack_dir=tmp_path)


def test_chaos_sh_without_a_stack_is_one_line_and_exit_2(tmp_path):
    import subprocess
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "scripts" / "chaos.sh"
    done = subprocess.run(
        [str(script), "kill", "1", "--stack-dir", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"loadgen chaos: no stack in {tmp_path}: {tmp_path}/stack.json does not exist (start one with `up`)"
    )
    assert subprocess.run([str(script), "explode"], capture_output=True, timeout=10).returncode == 2


def test_local_faults_without_the_stack_tools_say_to_use_compose(tmp_path, monkeypatch):
    """The loadgen image ships no `stack` package; that install is stood in for by hiding the package from
    `importlib.util.find_spec`, the only thing the check reads."""
    import importlib.util

    from loadgen.chaos.faults import open_target

    real = importlib.util.find_spec
    hidden = lambda name, *a: None if name == "stack" else real(name, *a)  # noqa: E731
    monkeypatch.setattr(importlib.util, "find_spec", hidden)
    with pytest.raises(UsageError, match=r"lacks \(the loadgen image has none\): use --compose"):
        open_target(compose=False, stack_dir=tmp_path)
