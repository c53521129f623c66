"""What this machine's NVIDIA GPUs are doing now, read through NVML: the machine is the local
executor's, so the reading is here; the books store it (services/telemetry/samples.py)."""

from __future__ import annotations

import logging

from aicc.core.topology import DeviceReading

log = logging.getLogger(__name__)


def nvml_readings() -> list[DeviceReading]:
    """What NVML reports now for every GPU of this machine; [] without NVML or a driver."""
    try:
        import pynvml
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return []
    try:
        out = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            uuid = pynvml.nvmlDeviceGetUUID(handle)
            rates = pynvml.nvmlDeviceGetUtilizationRates(handle)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            out.append(
                DeviceReading(
                    uuid.decode() if isinstance(uuid, bytes) else str(uuid),
                    float(rates.gpu) / 100.0,
                    int(memory.used) // (1024 * 1024),
                )
            )
        return out
    except pynvml.NVMLError as err:
        log.warning("NVML sampling failed: %s", err)
        return []
    finally:
        pynvml.nvmlShutdown()
