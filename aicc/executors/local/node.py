"""This machine as a node: its CPUs, memory, NVIDIA GPUs found through NVML (with their MIG
slices when MIG mode is on, mig.py), and other vendors' accelerators found by their management
tools (tools.py: Huawei Ascend, Cambricon, Hygon DCU, AMD).

A tool that fails (a non-zero exit, a timeout, output that is not its documented table) does not
fail discovery: the node carries the `aicc.io/device-tool.<tool>` label saying why, and the
devices that tool found last time stay registered, marked unhealthy, so no job is placed on
them and none that runs there loses its device record. A machine with devices of several
vendors numbers them on from the last index in use when their own indices would collide.

Simulated devices (docs/contracts.md §8) can be added by configuration so that a laptop without a
GPU can run accelerator jobs for demos and tests; they are marked simulated everywhere.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import psutil

from aicc.core import accelerator_names
from aicc.core.smi.probes import PROBES, Probe
from aicc.core.topology import Device, Node
from aicc.executors.local import tools
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
                known = accelerator_names.from_nvml_name(name)
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


@dataclass
class Found:
    """What the vendors' tools found: the devices (numbered for this node), node labels, one
    note per tool that answered or failed, and each tool's devices as it numbered them (what
    the next discovery keeps, unhealthy, if that tool fails then)."""

    devices: list[Device]
    labels: dict[str, str]
    notes: list[str]
    by_tool: dict[str, tuple[Device, ...]]


def vendor_devices(
    taken: Sequence[int] = (),
    *,
    previous: Mapping[str, tuple[Device, ...]] | None = None,
    probes: Sequence[Probe] = PROBES,
    path: str | None = None,
    timeout_s: float = tools.TIMEOUT_S,
) -> Found:
    """Run every probe; `taken`: the indices NVIDIA's GPUs already hold on this node."""
    found = Found([], {}, [], {})
    used = set(taken)
    for outcome in tools.probe_all(probes, path=path, timeout_s=timeout_s):
        tool = outcome.probe.tool
        if outcome.failed:
            log.warning("device discovery: %s", outcome.error)
            found.labels[tools.LABEL + tool] = outcome.error
            kept = tuple(replace(d, healthy=False) for d in (previous or {}).get(tool, ()))
            found.by_tool[tool] = kept
            found.notes.append(f"{tool} failed ({outcome.error})")
            devices: tuple[Device, ...] = kept
        elif outcome.report is not None:
            devices = outcome.report.devices
            found.by_tool[tool] = devices
            found.labels.update(outcome.report.labels)
            found.notes.append(f"{len(devices)} device(s) from {tool}")
        else:
            continue
        if used & {d.index for d in devices}:
            start = max(used) + 1
            devices = tuple(replace(d, index=start + i) for i, d in enumerate(devices))
        used |= {d.index for d in devices}
        found.devices.extend(devices)
    return found


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
    previous: Mapping[str, tuple[Device, ...]] | None = None,
    probes: Sequence[Probe] = PROBES,
    path: str | None = None,
) -> tuple[Node, str, dict[str, tuple[Device, ...]]]:
    """Describe this machine. Returns the node, a one-line note about its accelerators, and
    each vendor tool's devices (pass them back as `previous` to the next discovery)."""
    devices, note = nvidia_devices()
    others = vendor_devices([d.index for d in devices], previous=previous, probes=probes, path=path)
    devices.extend(others.devices)
    note = "; ".join([note, *others.notes])
    for group in simulated or []:
        model = accelerator_names.lookup(group.model)
        for _ in range(group.count):
            index = max((d.index for d in devices), default=-1) + 1
            devices.append(Device(index, model.name, int(model.memory_gib * 1024), simulated=True))
        note += f"; {group.count} simulated {model.name}"
    memory = psutil.virtual_memory().total // (1024 * 1024)
    node = Node(
        name=name or socket.gethostname(),
        cpu_milli=cpu_milli(),
        memory_mib=memory,
        devices=tuple(devices),
        labels={
            "site": "local",
            "cluster": "local",
            "pool": pool,
            **nvidia_versions(),
            **others.labels,
        },
        executor="local",
    )
    return node, note, others.by_tool
