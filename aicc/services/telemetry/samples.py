"""Measured device utilization: samples of real devices, stored per device; and measured node
power (a node's BMC or its CPUs' RAPL counters), stored in the same table on the node's row
of index `NODE_INDEX` with its watts, source and the limit its BMC said was in force: the
node's power history, which the meter reads for CPU jobs' energy and `power_curve` cuts into
the node's power curve (API, CLI, portal). One history for both sources, each sample naming
its own, so a node read by both is never counted twice; kept `nodes.bmc.history_days` (the
`bmc` step prunes them hourly, loops/bmc.py).

Busy rates and idle flags read only these samples; a device that was never sampled (simulated,
another vendor, another engine's node) has no busy figure at all, never an invented one. The
local server reads the GPUs NVML shows it (executors/local/devices.py; loops/books.py takes
the readings) and this module matches them to registered devices by UUID.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from aicc.core import power_curve as power_curve_
from aicc.core.topology import DeviceReading
from aicc.services.common import NotFound, from_row, utc
from aicc.services.nodes import census as node_census
from aicc.services.telemetry.views import PowerBucket, PowerCurve
from aicc.store.tables.telemetry import NODE_INDEX, DeviceSampleRow

RETENTION = timedelta(days=400)  # a year of daily KPIs, and the month before it
PowerReading = tuple[str, float, str, float | None]  # node id, watts, source, limit in force


def record(session: Session, now: datetime, readings: list[DeviceReading]) -> int:
    """Store one sample per registered real device among `readings` (matched by UUID), and
    drop samples older than the retention. Returns the number stored."""
    if not readings:
        return 0
    by_uuid = {
        d.uuid: (d.node_id, d.index)
        for d in node_census.devices(session)
        if d.uuid is not None and not d.simulated
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


def record_power(session: Session, now: datetime, readings: Iterable[PowerReading]) -> int:
    """Store each node's measured power: (node id, watts, source: `bmc` or `rapl`, the limit in
    force its BMC said or None)."""
    stored = 0
    for node_id, watts, source, limit_w in readings:
        session.add(
            DeviceSampleRow(
                node_id=node_id,
                index=NODE_INDEX,
                at=now,
                utilization=0.0,  # a node's row has no busy figure; readers of it skip the row
                memory_used_mib=None,
                power_w=watts,
                source=source,
                limit_w=limit_w,
            )
        )
        stored += 1
    return stored


def prune_power(session: Session, now: datetime, retention: timedelta) -> int:
    """Drop nodes' power samples older than `retention` (BMC and RAPL alike); returns how many.
    One delete per node, each on the (node, index, time) index, so the devices' utilization
    samples, kept longer (`RETENTION`), are never scanned."""
    gone = 0
    for node_id in node_census.names_by_id(session):
        done = session.execute(
            delete(DeviceSampleRow).where(
                DeviceSampleRow.node_id == node_id,
                DeviceSampleRow.index == NODE_INDEX,
                DeviceSampleRow.at < now - retention,
            )
        )
        gone += getattr(done, "rowcount", 0) or 0
    return gone


def power_curve(session: Session, node: str, *, hours: float, now: datetime) -> PowerCurve:
    """A node's measured power over the last `hours` (core/power_curve.py), from its BMC
    where it has BMC samples in the window (the whole node), else from RAPL (CPUs and memory
    only: the two are never mixed in one curve). An unknown node is `NotFound`."""
    node_id = node_census.ids_by_name(session, [node]).get(node)
    if node_id is None:
        raise NotFound("node {name!r} not found; `aicc node list` shows the nodes", name=node)
    since = now - timedelta(hours=hours)
    found = session.execute(
        select(
            DeviceSampleRow.source,
            DeviceSampleRow.at,
            DeviceSampleRow.power_w,
            DeviceSampleRow.limit_w,
        )
        .where(
            DeviceSampleRow.node_id == node_id,
            DeviceSampleRow.index == NODE_INDEX,
            DeviceSampleRow.at >= since,
            DeviceSampleRow.power_w.is_not(None),
        )
        .order_by(DeviceSampleRow.at)
    ).all()
    by_source: dict[str, list[power_curve_.Sample]] = {}
    for source, at, watts, limit_w in found:
        if watts is None:  # the query keeps none; the column is nullable for devices' rows
            continue
        by_source.setdefault(source or "", []).append(
            power_curve_.Sample(at=utc(at), watts=watts, limit_w=limit_w)
        )
    chosen = next((s for s in ("bmc", "rapl") if s in by_source), next(iter(by_source), ""))
    made = power_curve_.curve(by_source.get(chosen, []), since=since, until=now)
    return from_row(
        PowerCurve,
        made,
        node=node,
        hours=hours,
        since=since,
        until=now,
        source=chosen,
        sources=sorted(by_source),
        bucket_s=int(made.width.total_seconds()),
        buckets=[PowerBucket.model_validate(b, from_attributes=True) for b in made.buckets],
    )


def busy_at(
    session: Session, devices: Iterable[tuple[str, int]], *, since: datetime, above: float
) -> datetime | None:
    """The last sample since `since` of any of these devices (node id, index) busier than
    `above`, or None: a notebook's GPU work counts as its activity (loops/culling.py)."""
    latest = None
    for node, index in devices:
        at = session.scalar(
            select(DeviceSampleRow.at)
            .where(
                DeviceSampleRow.node_id == node,
                DeviceSampleRow.index == index,
                DeviceSampleRow.at >= since,
                DeviceSampleRow.utilization > above,
            )
            .order_by(DeviceSampleRow.at.desc())
            .limit(1)
        )
        if at is not None and (latest is None or at > latest):
            latest = at
    return latest


def latest_watts(session: Session, since: datetime, *, source: str) -> dict[str, float]:
    """node id -> its last power sample (W) from `source` (bmc | rapl) since `since`; nodes
    with none absent."""
    out: dict[str, float] = {}
    for node, watts in session.execute(
        select(DeviceSampleRow.node_id, DeviceSampleRow.power_w)
        .where(DeviceSampleRow.index == NODE_INDEX, DeviceSampleRow.at >= since)
        .where(DeviceSampleRow.source == source, DeviceSampleRow.power_w.is_not(None))
        .order_by(DeviceSampleRow.at)
    ):
        if watts is not None:  # the query keeps none; the column is nullable for devices' rows
            out[node] = float(watts)  # the last one of each node wins
    return out


def node_id(session: Session, name: str | None) -> str | None:
    """The id of the node named `name` (this machine's, for its RAPL power), if registered."""
    if not name:
        return None
    return node_census.ids_by_name(session, [name]).get(name)


def node_power_w(
    session: Session, node_ids: list[str], start: datetime, end: datetime
) -> dict[str, tuple[str, float]]:
    """Each node's measured mean power over [start, end) and its source, the one that sampled
    it most (RAPL on a tie): what a CPU job's share is taken of, by the meter for its energy and
    by the power cap for its watts (services/center/power.py). Nodes never measured are absent."""
    counted: dict[str, tuple[int, bool, str, float]] = {}
    for node, source, watts, count in session.execute(
        select(
            DeviceSampleRow.node_id,
            DeviceSampleRow.source,
            func.avg(DeviceSampleRow.power_w),
            func.count(),
        )
        .where(
            DeviceSampleRow.node_id.in_(node_ids),
            DeviceSampleRow.index == NODE_INDEX,
            DeviceSampleRow.power_w.is_not(None),
            DeviceSampleRow.at >= start,
            DeviceSampleRow.at < end,
        )
        .group_by(DeviceSampleRow.node_id, DeviceSampleRow.source)
    ):
        if watts is None:
            continue
        rank = (int(count), source == "rapl", source or "", float(watts))
        if node not in counted or rank > counted[node]:
            counted[node] = rank
    return {node: (source, watts) for node, (_, _, source, watts) in counted.items()}


class Measured:
    """The samples as a metering pass reads them (billing's `meter.Samples`): telemetry sits
    above billing, so whoever builds the meter builds this in the meter's session and hands it
    down. Whether anything was sampled at all is read once, so a site that samples nothing
    asks nothing more of each record."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.sampled = bool(session.scalar(select(func.count()).select_from(DeviceSampleRow)))
        self.measured = (
            self.sampled
            and session.scalar(
                select(DeviceSampleRow.id).where(DeviceSampleRow.index == NODE_INDEX).limit(1)
            )
            is not None
        )

    def busy(
        self, node_id: str, indices: Sequence[int], start: datetime, end: datetime
    ) -> float | None:
        """Mean measured utilization of these devices of the node over [start, end), or None
        (never measured: no sample in the interval)."""
        if not self.sampled or not indices:
            return None
        mean = self.session.scalar(
            select(func.avg(DeviceSampleRow.utilization)).where(
                DeviceSampleRow.node_id == node_id,
                DeviceSampleRow.index.in_(list(indices)),
                DeviceSampleRow.at >= start,
                DeviceSampleRow.at < end,
            )
        )
        return None if mean is None else float(mean)

    def node_power(self, node_id: str, start: datetime, end: datetime) -> tuple[str, float] | None:
        """The node's measured mean power over [start, end) and its source (`node_power_w`),
        or None where it was never measured."""
        if not self.measured:
            return None
        return node_power_w(self.session, [node_id], start, end).get(node_id)
