"""What this machine's accelerators are doing now: NVIDIA GPUs read through NVML, other vendors'
devices through their management tools (tools.py). The machine is the local executor's, so the
reading is here; the books store it (services/telemetry/samples.py)."""

from __future__ import annotations

import logging
from typing import Any

from aicc.core.topology import DeviceReading
from aicc.executors.local import tools
from aicc.executors.local.nvml import NoNvml, nvml, text

log = logging.getLogger(__name__)
MIB = 1024 * 1024


def readings() -> list[DeviceReading]:
    """Every device this machine can say something about: NVML's, then the vendors' tools'."""
    return [*nvml_readings(), *tools.tool_readings()]


def nvml_readings() -> list[DeviceReading]:
    """What NVML reports now for every GPU of this machine; [] without NVML or a driver."""
    try:
        with nvml() as pynvml:
            try:
                return [reading(pynvml, i) for i in range(pynvml.nvmlDeviceGetCount())]
            except pynvml.NVMLError as err:
                log.warning("NVML sampling failed: %s", err)
                return []
    except NoNvml:
        return []


def reading(pynvml: Any, index: int) -> DeviceReading:
    """One GPU's busy fraction and memory in use."""
    handle = pynvml.nvmlDeviceGetHandleByIndex(index)
    rates = pynvml.nvmlDeviceGetUtilizationRates(handle)
    memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
    return DeviceReading(
        text(pynvml.nvmlDeviceGetUUID(handle)), float(rates.gpu) / 100.0, int(memory.used) // MIB
    )
