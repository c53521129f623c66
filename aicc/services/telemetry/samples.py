"""Measured device utilization: samples of real devices, stored per device; and measured node
power (a node's BMC or its CPUs' RAPL counters), stored in the same table on the node's row
of index `NODE_INDEX` with its watts and source, where the meter finds it for CPU jobs' energy.

Busy rates and idle flags read only these samples; a device that was never sampled (simulated,
another vendor, another engine's node) has no busy figure at all, never an invented one. The
local server reads the GPUs NVML shows it (executors/local/devices.py; loops/books.py takes
the readings) and this module matches them to registered devices by UUID.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from aicc.core.topology import DeviceReading
from aicc.services.telemetry.views import PowerSample
from aicc.store.tables import NODE_INDEX, DeviceRow, DeviceSampleRow, NodeRow

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


def record_power(
    session: Session, now: datetime, readings: Iterable[tuple[str, float, str]]
) -> int:
    """Store each node's measured power: (node id, watts, source: `bmc` or `rapl`)."""
    stored = 0
    for node_id, watts, source in readings:
        session.add(
            DeviceSampleRow(
                node_id=node_id,
                index=NODE_INDEX,
                at=now,
                utilization=0.0,  # a node's row has no busy figure; readers of it skip the row
                memory_used_mib=None,
                power_w=watts,
                source=source,
            )
        )
        stored += 1
    return stored


def power_series(
    session: Session, node: str, *, since: datetime, limit: int = 5000
) -> list[PowerSample]:
    """A node's measured power since `since`, oldest first (the node page's curve)."""
    rows = session.execute(
        select(DeviceSampleRow.at, DeviceSampleRow.power_w, DeviceSampleRow.source)
        .join(NodeRow, NodeRow.id == DeviceSampleRow.node_id)
        .where(
            NodeRow.name == node,
            DeviceSampleRow.index == NODE_INDEX,
            DeviceSampleRow.at >= since,
            DeviceSampleRow.power_w.is_not(None),
        )
        .order_by(DeviceSampleRow.at.desc())
        .limit(limit)
    ).all()
    return [
        PowerSample(at=at, watts=w, source=src or "")
        for at, w, src in reversed(rows)
        if w is not None
    ]


def node_id(session: Session, name: str | None) -> str | None:
    """The id of the node named `name` (this machine's, for its RAPL power), if registered."""
    if not name:
        return None
    return session.scalar(select(NodeRow.id).where(NodeRow.name == name))
