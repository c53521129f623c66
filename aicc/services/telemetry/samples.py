"""Measured device utilization: samples of real devices, stored per device.

Busy rates and idle flags read only these samples; a device that was never sampled (simulated,
another vendor, another engine's node) has no busy figure at all, never an invented one. The
local server reads the GPUs NVML shows it (executors/local/devices.py; loops/books.py takes
the readings) and this module matches them to registered devices by UUID.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from aicc.core.topology import DeviceReading
from aicc.store.tables import DeviceRow, DeviceSampleRow

RETENTION = timedelta(days=400)  # a year of daily KPIs, and the month before it


def record(session: Session, now: datetime, readings: list[DeviceReading]) -> int:
    """Store one sample per registered real device among `readings` (matched by UUID), and
    drop samples older than the retention. Returns the number stored."""
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
