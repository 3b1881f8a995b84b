"""NVIDIA GPUs through NVML (nvidia-ml-py), under dcgm-exporter's names, units and labels.

Memory comes from the v2 memory call, whose `used` excludes the memory the driver reserves (the v1
call counts it as used), so FB_USED + FB_FREE + FB_RESERVED is the card's memory, as in DCGM.
A reading NVML does not support on a card (e.g. energy on older GPUs) is left out, not faked.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pynvml
from prometheus_client.metrics_core import Metric

from exporters.families import exact_counter, gauge

MIB = 1024 * 1024
MW_PER_W = 1000.0

Nvml = Any  # the pynvml module, or a test double with its shape


@dataclass(frozen=True)
class GpuProcess:
    """A process with a context on a GPU."""

    pid: int
    name: str
    memory_bytes: float | None  # None where NVML cannot tell (e.g. no permission)


@dataclass(frozen=True)
class GpuReading:
    """One GPU's NVML readings, in NVML's units; None where the card does not support a reading."""

    index: int
    uuid: str
    minor: int
    model: str
    utilization_pct: float | None
    memory_used_bytes: float | None
    memory_free_bytes: float | None
    memory_reserved_bytes: float | None
    power_mw: float | None
    energy_mj: float | None
    temperature_c: float | None
    sm_clock_mhz: float | None
    processes: tuple[GpuProcess, ...] = ()


def _mib(value: float | None) -> float | None:
    return None if value is None else float(int(value) // MIB)


def _watts(milliwatts: float | None) -> float | None:
    return None if milliwatts is None else milliwatts / MW_PER_W


_GAUGES: tuple[tuple[str, str, Callable[[GpuReading], float | None]], ...] = (
    ("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", lambda r: r.utilization_pct),
    ("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB).", lambda r: _mib(r.memory_used_bytes)),
    ("DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB).", lambda r: _mib(r.memory_free_bytes)),
    ("DCGM_FI_DEV_FB_RESERVED", "Framebuffer memory reserved (in MiB).",
     lambda r: _mib(r.memory_reserved_bytes)),
    ("DCGM_FI_DEV_POWER_USAGE", "Power draw (in W).", lambda r: _watts(r.power_mw)),
    ("DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C).", lambda r: r.temperature_c),
    ("DCGM_FI_DEV_SM_CLOCK", "SM clock frequency (in MHz).", lambda r: r.sm_clock_mhz),
)


def device_labels(reading: GpuReading, hostname: str) -> dict[str, str]:
    """dcgm-exporter's labels of one GPU."""
    return {
        "gpu": str(reading.index),
        "UUID": reading.uuid,
        "device": f"nvidia{reading.minor}",
        "modelName": reading.model,
        "Hostname": hostname,
    }


def gpu_families(readings: Iterable[GpuReading], hostname: str) -> list[Metric]:
    """The DCGM_FI_DEV_* families and `gpu_process_memory_used_bytes`; a family no GPU has is left out."""
    labelled = [(device_labels(r, hostname), r) for r in readings]
    families = [
        gauge(name, doc, [(labels, v) for labels, r in labelled if (v := value(r)) is not None])
        for name, doc, value in _GAUGES
    ]
    families.append(exact_counter(
        "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
        "Total energy consumption since boot (in mJ).",
        [(labels, r.energy_mj) for labels, r in labelled if r.energy_mj is not None],
    ))
    families.append(gauge(
        "gpu_process_memory_used_bytes",
        "GPU memory used by one process, in bytes.",
        [
            ({"gpu": labels["gpu"], "UUID": labels["UUID"], "pid": str(p.pid), "name": p.name},
             p.memory_bytes)
            for labels, r in labelled
            for p in r.processes
            if p.memory_bytes is not None
        ],
    ))
    return [family for family in families if family.samples]


def _optional(nvml: Nvml, read: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    try:
        return read(*args, **kwargs)
    except nvml.NVMLError:  # NotSupported, NoPermission, ...: this reading is left out
        return None


def _process_name(nvml: Nvml, pid: int) -> str:
    path = _optional(nvml, nvml.nvmlSystemGetProcessName, pid)
    return os.path.basename(path) if path else ""


def read_processes(nvml: Nvml, handle: Any) -> tuple[GpuProcess, ...]:
    """Compute and graphics processes of a GPU, once each."""
    memory: dict[int, float | None] = {}
    for running in (nvml.nvmlDeviceGetComputeRunningProcesses, nvml.nvmlDeviceGetGraphicsRunningProcesses):
        for process in _optional(nvml, running, handle) or ():
            memory.setdefault(int(process.pid), process.usedGpuMemory)
    return tuple(GpuProcess(pid, _process_name(nvml, pid), used) for pid, used in memory.items())


def read_device(nvml: Nvml, index: int) -> GpuReading:
    """Every reading of GPU `index`."""
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    memory = _optional(nvml, nvml.nvmlDeviceGetMemoryInfo, handle, version=nvml.nvmlMemory_v2)
    utilization = _optional(nvml, nvml.nvmlDeviceGetUtilizationRates, handle)
    minor = _optional(nvml, nvml.nvmlDeviceGetMinorNumber, handle)
    return GpuReading(
        index=index,
        uuid=nvml.nvmlDeviceGetUUID(handle),
        minor=index if minor is None else minor,
        model=nvml.nvmlDeviceGetName(handle),
        utilization_pct=None if utilization is None else utilization.gpu,
        memory_used_bytes=None if memory is None else memory.used,
        memory_free_bytes=None if memory is None else memory.free,
        memory_reserved_bytes=None if memory is None else memory.reserved,
        power_mw=_optional(nvml, nvml.nvmlDeviceGetPowerUsage, handle),
        energy_mj=_optional(nvml, nvml.nvmlDeviceGetTotalEnergyConsumption, handle),
        temperature_c=_optional(nvml, nvml.nvmlDeviceGetTemperature, handle, nvml.NVML_TEMPERATURE_GPU),
        sm_clock_mhz=_optional(nvml, nvml.nvmlDeviceGetClockInfo, handle, nvml.NVML_CLOCK_SM),
        processes=read_processes(nvml, handle),
    )


class GpuSource:
    """Every GPU NVML sees; NVML is initialised on the first poll that can (and retried until then)."""

    name = "gpu"
    up_metric = "exporter_gpu_up"
    up_help = "1 when NVML answered the last poll."

    def __init__(self, nvml: Nvml = pynvml, hostname: str | None = None) -> None:
        self._nvml = nvml
        self._hostname = hostname or socket.gethostname()
        self._initialised = False

    async def poll(self) -> list[GpuReading]:
        """Readings of every GPU."""
        return await asyncio.to_thread(self._read)

    def families(self, snapshot: list[GpuReading]) -> Iterable[Metric]:
        """dcgm-exporter's families."""
        return gpu_families(snapshot, self._hostname)

    async def close(self) -> None:
        """Shut NVML down if it was initialised."""
        if self._initialised:
            await asyncio.to_thread(self._nvml.nvmlShutdown)

    def _read(self) -> list[GpuReading]:
        if not self._initialised:
            self._nvml.nvmlInit()
            self._initialised = True
        return [read_device(self._nvml, index) for index in range(self._nvml.nvmlDeviceGetCount())]
