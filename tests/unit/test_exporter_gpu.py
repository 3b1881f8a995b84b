"""NVML readings -> dcgm-exporter's samples, and the GPU collector.

No GPU can be used here, so the collector is exercised against `FakeNvml`, a test double shaped like the
`pynvml` module (same function names, constants, error class and return shapes), injected into the
collector. One test also runs the real `pynvml` against this machine's missing NVML library.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pynvml
import pytest
from prometheus_client import CollectorRegistry

from exporters.exposition import render
from exporters.gpu import GpuProcess, GpuReading, GpuSource, gpu_families
from exporters.poller import Poller, PollStats
from tests.metrics_text import samples_of

MIB = 1024 * 1024
HOST = "gpu-node-1"


class FakeNvml:
    """A pynvml-shaped double: two GPUs; GPU 1 does not support energy; `fail_init` makes nvmlInit fail."""

    NVML_TEMPERATURE_GPU = 0
    NVML_CLOCK_SM = 1
    nvmlMemory_v2 = 0x02000028

    class NVMLError(Exception):
        pass

    class NVMLError_NotSupported(NVMLError):
        pass

    def __init__(self, fail_init: bool = False):
        self.fail_init = fail_init
        self.init_calls = 0
        self.gpus = [
            dict(
                uuid="GPU-11111111-2222-3333-4444-555555555555",
                minor=0,
                name="NVIDIA H100 80GB HBM3",
                util=37,
                total=81559 * MIB,
                reserved=527 * MIB,
                used=24000 * MIB,
                power=312_456,
                energy=987_654_321,
                temp=55,
                sm=1980,
                compute=[SimpleNamespace(pid=4242, usedGpuMemory=20000 * MIB)],
                graphics=[
                    SimpleNamespace(pid=4242, usedGpuMemory=20000 * MIB),
                    SimpleNamespace(pid=5151, usedGpuMemory=None),
                ],
            ),
            dict(
                uuid="GPU-66666666-7777-8888-9999-000000000000",
                minor=3,
                name="NVIDIA H100 80GB HBM3",
                util=0,
                total=81559 * MIB,
                reserved=527 * MIB,
                used=1 * MIB,
                power=70_000,
                energy=None,
                temp=31,
                sm=345,
                compute=[],
                graphics=[],
            ),
        ]

    def nvmlInit(self):
        self.init_calls += 1
        if self.fail_init:
            raise self.NVMLError("Driver Not Loaded")

    def nvmlShutdown(self):
        pass

    def nvmlDeviceGetCount(self):
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index):
        return self.gpus[index]

    def nvmlDeviceGetUUID(self, gpu):
        return gpu["uuid"]

    def nvmlDeviceGetMinorNumber(self, gpu):
        return gpu["minor"]

    def nvmlDeviceGetName(self, gpu):
        return gpu["name"]

    def nvmlDeviceGetUtilizationRates(self, gpu):
        return SimpleNamespace(gpu=gpu["util"], memory=5)

    def nvmlDeviceGetMemoryInfo(self, gpu, version=None):
        free = gpu["total"] - gpu["used"] - gpu["reserved"]
        if version == self.nvmlMemory_v2:
            return SimpleNamespace(
                version=version, total=gpu["total"], reserved=gpu["reserved"], free=free, used=gpu["used"]
            )
        return SimpleNamespace(total=gpu["total"], free=free, used=gpu["used"] + gpu["reserved"])  # v1

    def nvmlDeviceGetPowerUsage(self, gpu):
        return gpu["power"]

    def nvmlDeviceGetTotalEnergyConsumption(self, gpu):
        if gpu["energy"] is None:
            raise self.NVMLError_NotSupported("Not Supported")
        return gpu["energy"]

    def nvmlDeviceGetTemperature(self, gpu, sensor):
        assert sensor == self.NVML_TEMPERATURE_GPU
        return gpu["temp"]

    def nvmlDeviceGetClockInfo(self, gpu, clock):
        assert clock == self.NVML_CLOCK_SM
        return gpu["sm"]

    def nvmlDeviceGetComputeRunningProcesses(self, gpu):
        return gpu["compute"]

    def nvmlDeviceGetGraphicsRunningProcesses(self, gpu):
        return gpu["graphics"]

    def nvmlSystemGetProcessName(self, pid):
        if pid == 5151:
            raise self.NVMLError_NotSupported("Not Supported")
        return "/usr/bin/python3.11"


def _samples(families) -> dict[tuple[str, str], float]:
    return {
        (s.name, s.labels.get("gpu", "") + "/" + s.labels.get("pid", "")): s.value
        for f in families
        for s in f.samples
    }


def _reading(**overrides) -> GpuReading:
    values = dict(
        index=0,
        uuid="GPU-abc",
        minor=2,
        model="NVIDIA L4",
        utilization_pct=12,
        memory_used_bytes=1536 * MIB + 5,
        memory_free_bytes=20000 * MIB,
        memory_reserved_bytes=300 * MIB,
        power_mw=27_500,
        energy_mj=123_456,
        temperature_c=40,
        sm_clock_mhz=2040,
        processes=(GpuProcess(99, "python3", 1000 * MIB),),
    )
    return GpuReading(**{**values, **overrides})


def test_converter_units_are_dcgms():
    samples = _samples(gpu_families([_reading()], HOST))
    assert samples[("DCGM_FI_DEV_GPU_UTIL", "0/")] == 12
    assert samples[("DCGM_FI_DEV_FB_USED", "0/")] == 1536  # MiB, whole MiB as DCGM reports them
    assert samples[("DCGM_FI_DEV_FB_FREE", "0/")] == 20000
    assert samples[("DCGM_FI_DEV_FB_RESERVED", "0/")] == 300
    assert samples[("DCGM_FI_DEV_POWER_USAGE", "0/")] == 27.5  # W, from NVML's mW
    assert samples[("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "0/")] == 123_456  # mJ
    assert samples[("DCGM_FI_DEV_GPU_TEMP", "0/")] == 40
    assert samples[("DCGM_FI_DEV_SM_CLOCK", "0/")] == 2040
    assert samples[("gpu_process_memory_used_bytes", "0/99")] == 1000 * MIB


def test_converter_labels_are_dcgms():
    families = {f.name: f for f in gpu_families([_reading()], HOST)}
    assert families["DCGM_FI_DEV_GPU_UTIL"].samples[0].labels == {
        "gpu": "0",
        "UUID": "GPU-abc",
        "device": "nvidia2",
        "modelName": "NVIDIA L4",
        "Hostname": HOST,
    }
    assert families["gpu_process_memory_used_bytes"].samples[0].labels == {
        "gpu": "0",
        "UUID": "GPU-abc",
        "pid": "99",
        "name": "python3",
    }
    assert families["DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"].type == "counter"


def test_unsupported_readings_are_left_out_not_zero():
    readings = [_reading(energy_mj=None, power_mw=None, processes=(GpuProcess(7, "x", None),))]
    names = {f.name for f in gpu_families(readings, HOST)}
    assert "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION" not in names
    assert "DCGM_FI_DEV_POWER_USAGE" not in names
    assert "gpu_process_memory_used_bytes" not in names
    assert "DCGM_FI_DEV_FB_USED" in names


def _exporter(nvml) -> tuple[Poller, CollectorRegistry]:
    registry = CollectorRegistry()
    poller = Poller(GpuSource(nvml, hostname=HOST), 1.0, PollStats(registry, ["gpu"]))
    registry.register(poller)
    return poller, registry


def _scrape(registry):
    return samples_of(render(registry).decode())


async def test_collector_reads_every_gpu_through_nvml_v2_memory():
    poller, registry = _exporter(FakeNvml())
    await poller.poll_once()
    samples = _scrape(registry)
    assert samples[("exporter_gpu_up", ())] == 1

    def value(name, gpu):
        return next(v for (n, labels), v in samples.items() if n == name and ("gpu", gpu) in labels)

    assert value("DCGM_FI_DEV_FB_USED", "0") == 24000  # v2: reserved memory is not counted as used
    assert value("DCGM_FI_DEV_FB_RESERVED", "0") == 527
    assert value("DCGM_FI_DEV_FB_FREE", "0") == 81559 - 24000 - 527
    assert value("DCGM_FI_DEV_POWER_USAGE", "1") == 70.0
    assert value("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "0") == 987_654_321
    assert not any(
        n == "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION" and ("gpu", "1") in labels for n, labels in samples
    )  # GPU 1 does not support it
    device = {dict(labels)["device"] for (n, labels) in samples if n == "DCGM_FI_DEV_SM_CLOCK"}
    assert device == {"nvidia0", "nvidia3"}
    processes = {
        dict(labels)["pid"]: (dict(labels)["name"], v)
        for (n, labels), v in samples.items()
        if n == "gpu_process_memory_used_bytes"
    }
    assert processes == {"4242": ("python3.11", 20000 * MIB)}  # once, though in both lists; 5151: no memory


async def test_nvml_init_failure_is_up_0_with_one_log_line_and_retried(caplog):
    nvml = FakeNvml(fail_init=True)
    poller, registry = _exporter(nvml)
    with caplog.at_level(logging.INFO, logger="exporters"):
        for _ in range(3):
            await poller.poll_once()
        samples = _scrape(registry)
        assert samples[("exporter_gpu_up", ())] == 0
        assert not any(name.startswith("DCGM_") for name, _ in samples)
        assert samples[("exporter_poll_errors_total", (("collector", "gpu"),))] == 3
        assert [r.levelname for r in caplog.records] == ["WARNING"]
        assert "exporter_gpu_up is 0" in caplog.records[0].getMessage()
        assert "Driver Not Loaded" in caplog.records[0].getMessage()
        nvml.fail_init = False  # the driver came back
        await poller.poll_once()
    assert nvml.init_calls == 4
    assert _scrape(registry)[("exporter_gpu_up", ())] == 1
    assert [r.levelname for r in caplog.records] == ["WARNING", "INFO"]


async def test_real_pynvml_without_an_nvml_library_is_up_0():
    """The real nvidia-ml-py on this machine, which has no NVIDIA driver."""
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        pass
    else:
        pynvml.nvmlShutdown()
        pytest.skip("this machine has NVML: the unavailable path cannot be shown")
    poller, registry = _exporter(pynvml)
    await poller.poll_once()
    assert _scrape(registry)[("exporter_gpu_up", ())] == 0
