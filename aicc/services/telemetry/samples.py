"""Measured device utilization: NVML samples of this machine's NVIDIA GPUs, stored per device.

Busy rates and idle flags read only these samples; a device that was never sampled (simulated,
another vendor, another engine's node) has no busy figure at all, never an invented one. The
local server samples the GPUs NVML shows it and matches them to registered devices by UUID.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from aicc.store.tables import DeviceRow, DeviceSampleRow

log = logging.getLogger(__name__)
RETENTION = timedelta(days=400)  # a year of daily KPIs, and the month before it


@dataclass(frozen=True)
class Reading:
    uuid: str
    utilization: float  # 0..1 of the last sample period the GPU was busy
    memory_used_mib: int | None


def nvml_readings() -> list[Reading]:
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
                Reading(
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


def record(
    session: Session, now: datetime, read: Callable[[], list[Reading]] = nvml_readings
) -> int:
    """Store one sample per registered real device that `read` reports (matched by UUID), and
    drop samples older than the retention. Returns the number stored."""
    readings = read()
    if not readings:
        return 0
    by_uuid = {
        uuid: (node_id, index)
        for node_id, index, uuid in session.execute(
            select(DeviceRow.node_id, DeviceRow.index, DeviceRow.uuid).where(
                DeviceRow.uuid.is_not(None), DeviceRow.simulated.is_(False)
            )
        )
    }
    stored = 0
    for reading in readings:
        where = by_uuid.get(reading.uuid)
        if where is None:
            continue
        session.add(
            DeviceSampleRow(
                node_id=where[0],
                index=where[1],
                at=now,
                utilization=max(0.0, min(1.0, reading.utilization)),
                memory_used_mib=reading.memory_used_mib,
            )
        )
        stored += 1
    session.execute(delete(DeviceSampleRow).where(DeviceSampleRow.at < now - RETENTION))
    return stored
