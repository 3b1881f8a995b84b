"""Docker inspect and stats documents -> cAdvisor-named samples (pure), on the recorded API responses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exporters.containers import ContainerLabels, container_families
from exporters.docker_containers import container_labels, docker_usage, gpu_devices, working_set_bytes

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "docker_api"
WL1 = "3f9c1e0a7b2d4c6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6a"
NGINX = "c0ffee1234567890abcdef1234567890abcdef1234567890abcdef1234567890"
LABELS = ContainerLabels("c", "0123456789ab", "svc", "1", "")


def _doc(cid: str, kind: str) -> dict:
    return json.loads((FIXTURES / "containers" / cid / f"{kind}.json").read_text())


def test_identity_from_inspect():
    assert container_labels(_doc(WL1, "json")) == ContainerLabels(
        name="wlcap-whisperlive-1", id="3f9c1e0a7b2d", compose_service="whisperlive", replica="1", gpu="0"
    )
    assert container_labels(_doc(NGINX, "json")).gpu == ""


def test_identity_of_a_plain_container_without_compose_labels():
    inspect = {"Id": "f" * 64, "Name": "/adhoc", "Config": {"Labels": None}, "HostConfig": {}}
    assert container_labels(inspect) == ContainerLabels("adhoc", "f" * 12, "", "", "")


@pytest.mark.parametrize(
    ("requests", "expected"),
    [
        (None, ""),
        ([], ""),
        ([{"Driver": "nvidia", "Count": 0, "DeviceIDs": ["0", "2"], "Capabilities": [["gpu"]]}], "0,2"),
        ([{"Driver": "", "Count": -1, "DeviceIDs": None, "Capabilities": [["gpu"]]}], "all"),  # --gpus all
        ([{"Driver": "nvidia", "Count": 2, "DeviceIDs": None, "Capabilities": [["gpu", "utility"]]}],
         "any:2"),
        ([{"Driver": "", "Count": 1, "DeviceIDs": ["/dev/foo"], "Capabilities": [["tpu"]]}], ""),
        ([{"Driver": "nvidia", "DeviceIDs": ["GPU-1b2c"], "Capabilities": [["gpu"]]},
          {"Driver": "nvidia", "DeviceIDs": ["3"], "Capabilities": [["gpu"]]}], "GPU-1b2c,3"),
    ],
)
def test_gpu_devices_from_device_requests(requests, expected):
    assert gpu_devices(requests) == expected


def test_working_set_is_usage_minus_inactive_file_on_cgroup_v2():
    memory = _doc(WL1, "stats")["memory_stats"]
    assert working_set_bytes(memory) == 2147483648 - 268435456


def test_working_set_on_cgroup_v1_uses_the_hierarchical_total():
    memory = {"usage": 1000, "stats": {"inactive_file": 100, "total_inactive_file": 300}}
    assert working_set_bytes(memory) == 700


def test_working_set_never_negative_and_without_stats_is_usage():
    assert working_set_bytes({"usage": 100, "stats": {"inactive_file": 500}}) == 0
    assert working_set_bytes({"usage": 100}) == 100


def test_usage_from_a_recorded_stats_document():
    usage = docker_usage(LABELS, _doc(NGINX, "stats"))
    assert usage is not None
    assert usage.cpu_seconds == pytest.approx(98.7654321)
    assert usage.usage_bytes == 15728640
    assert usage.working_set_bytes == 15728640 - 4194304
    assert usage.threads == 3
    assert usage.network == {"eth0": (2233445566, 2100000000), "eth1": (1000, 2000)}


def test_a_stopped_container_has_no_usage():
    stopped = {
        "read": "0001-01-01T00:00:00Z",
        "pids_stats": {},
        "cpu_stats": {"cpu_usage": {"total_usage": 0}, "throttling_data": {}},
        "memory_stats": {},
    }
    assert docker_usage(LABELS, stopped) is None
    assert docker_usage(LABELS, {}) is None


def test_container_without_networks_has_no_network_samples():
    usage = docker_usage(LABELS, {**_doc(WL1, "stats"), "networks": None})
    assert usage is not None
    families = {f.name: f for f in container_families([usage])}
    assert "container_network_receive_bytes" not in families
    assert families["container_memory_usage_bytes"].samples[0].value == 2147483648


def test_families_have_cadvisor_names_and_an_interface_label_on_network():
    usage = docker_usage(container_labels(_doc(NGINX, "json")), _doc(NGINX, "stats"))
    assert usage is not None
    samples = [s for f in container_families([usage]) for s in f.samples]
    by_name: dict[str, list] = {}
    for s in samples:
        by_name.setdefault(s.name, []).append(s)
    assert set(by_name) == {
        "container_cpu_usage_seconds_total",
        "container_memory_working_set_bytes",
        "container_memory_usage_bytes",
        "container_threads",
        "container_network_receive_bytes_total",
        "container_network_transmit_bytes_total",
    }
    base = {"name": "wlcap-nginx-1", "id": "c0ffee123456", "compose_service": "nginx", "replica": "1",
            "gpu": ""}
    assert by_name["container_cpu_usage_seconds_total"][0].labels == base
    rx = {s.labels["interface"]: s.value for s in by_name["container_network_receive_bytes_total"]}
    assert rx == {"eth0": 2233445566, "eth1": 1000}
