"""This machine as a node: its CPUs, memory, and NVIDIA GPUs found through NVML (with their MIG
slices when MIG mode is on, mig.py).

Simulated devices (docs/contracts.md §8) can be added by configuration so that a laptop without a
GPU can run accelerator jobs for demos and tests; they are marked simulated everywhere.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import psutil

from aicc.core import catalog
from aicc.core.topology import Device, Node
from aicc.executors.local.mig import mig_instances
from aicc.executors.local.nvml import NoNvml, nvml, text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SimulatedDevices:
    model: str
    count: int


def nvidia_devices() -> tuple[list[Device], str]:
    """The NVIDIA GPUs NVML sees, and a note saying what happened when it saw none."""
    try:
        with nvml() as pynvml:
            devices = []
            for index in range(pynvml.nvmlDeviceGetCount()):
                handle = pynvml.nvmlDeviceGetHandleByIndex(index)
                name = text(pynvml.nvmlDeviceGetName(handle))
                known = catalog.from_nvml_name(name)
                memory = int(pynvml.nvmlDeviceGetMemoryInfo(handle).total) // (1024 * 1024)
                uuid = text(pynvml.nvmlDeviceGetUUID(handle))
                slices = mig_instances(pynvml, handle, known.mig_profiles if known else ())
                devices.append(
                    Device(index, known.name if known else name, memory, uuid=uuid, mig=slices)
                )
    except NoNvml as err:
        return [], str(err)
    return devices, f"{len(devices)} NVIDIA GPU(s)"


def nvidia_versions() -> dict[str, str]:
    """The driver's version and the newest CUDA it runs, as node labels (the names NVIDIA's GPU
    feature discovery would show them under, shortened): what a job's CUDA build must match."""
    try:
        with nvml() as pynvml:
            try:
                cuda = int(pynvml.nvmlSystemGetCudaDriverVersion_v2())
                driver = text(pynvml.nvmlSystemGetDriverVersion())
            except pynvml.NVMLError as err:  # a driver too old for the call
                log.warning("NVML could not say the driver's version: %s", err)
                return {}
    except NoNvml:
        return {}
    return {"nvidia.com/driver": driver, "nvidia.com/cuda": f"{cuda // 1000}.{cuda % 1000 // 10}"}


def cpu_milli() -> int:
    """CPUs this process may use (affinity and cgroup quota), not merely those the host has."""
    count = len(os.sched_getaffinity(0))
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            count = min(count, max(1, int(quota) // int(period)))
    except (OSError, ValueError):
        pass
    return count * 1000


def local_node(
    *,
    name: str | None = None,
    simulated: list[SimulatedDevices] | None = None,
    pool: str = "default",
) -> tuple[Node, str]:
    """Describe this machine. Returns the node and a one-line note about its accelerators."""
    devices, note = nvidia_devices()
    for group in simulated or []:
        model = catalog.lookup(group.model)
        for _ in range(group.count):
            devices.append(
                Device(len(devices), model.name, int(model.memory_gib * 1024), simulated=True)
            )
        note += f"; {group.count} simulated {model.name}"
    memory = psutil.virtual_memory().total // (1024 * 1024)
    node = Node(
        name=name or socket.gethostname(),
        cpu_milli=cpu_milli(),
        memory_mib=memory,
        devices=tuple(devices),
        labels={"site": "local", "cluster": "local", "pool": pool, **nvidia_versions()},
        executor="local",
    )
    return node, note
