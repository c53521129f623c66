"""Utilization KPIs: allocation and busy rates per pool, accelerator model and organization and
day, and idle allocations.

- allocation rate = device-seconds held by replicas (bind to end, shares counted as shares) /
  device-seconds installed (the devices registered now × the part of the day that has passed:
  no history of capacity is stored);
- busy rate = the mean NVML utilization sampled on the group's devices that day (for an
  organization: samples taken while one of its replicas held the device); absent (null) where
  nothing was measured, never estimated;
- an idle allocation is a running replica whose devices were all sampled under 5% busy for the
  last 30 minutes.

Simulated devices are reported apart (`simulated: true`) and never mixed into the real figures
(docs/contracts.md §8).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.core import periods
from aicc.core.tenancy import Principal, Role
from aicc.services.common import Forbidden
from aicc.services.jobs import census
from aicc.services.nodes import census as node_census
from aicc.services.telemetry.views import IdleReplica, IdleReplicas, UtilizationRow
from aicc.services.telemetry.views import Utilization as UtilizationPage
from aicc.store.tables.telemetry import DeviceSampleRow

By = Literal["pool", "model", "org"]
IDLE_SHARE = 0.05
IDLE_FOR = timedelta(minutes=30)


@dataclass(frozen=True)
class Device:
    node_id: str
    index: int
    model: str
    pool: str
    simulated: bool


def registered_devices(session: Session) -> dict[tuple[str, int], Device]:
    pools = {n.id: str(n.labels.get("pool") or "default") for n in node_census.listed(session)}
    return {
        (d.node_id, d.index): Device(
            d.node_id, d.index, d.model, pools.get(d.node_id, ""), d.simulated
        )
        for d in node_census.devices(session)
    }


def _overlap(start: datetime, end: datetime, lo: datetime, hi: datetime) -> float:
    return max(0.0, (min(end, hi) - max(start, lo)).total_seconds())


def utilization(
    session: Session,
    who: Principal,
    *,
    by: By,
    first: date,
    days: int,
    zone: str,
    now: datetime,
) -> list[UtilizationRow]:
    """One row per (group, simulated, day) from `first`, `days` days. Center admins see every
    group; organization admins only their own organization's row (`by=org`)."""
    if not who.is_admin and not (who.role is Role.ORG_ADMIN and by == "org"):
        raise Forbidden("utilization by pool or model is for center admins; org admins: by=org")
    devices = registered_devices(session)
    bounds = [periods.day_bounds(first + timedelta(days=i), zone) for i in range(days)]
    capacity = _capacity(devices, bounds, now, by)
    allocated, holders = _allocated(session, devices, bounds, now, by)
    busy = _busy(session, devices, bounds, holders, by, now)
    keys = set(allocated) | set(busy) | (set(capacity) if by != "org" else set())
    rows: list[UtilizationRow] = []
    for group, simulated, day in sorted(keys, key=lambda k: (k[2], k[0], k[1])):
        if by == "org" and not who.is_admin and group != who.org_id:
            continue
        total = capacity.get((group if by != "org" else "", simulated, day), 0.0)
        held = allocated.get((group, simulated, day), 0.0)
        measured = busy.get((group, simulated, day))
        rows.append(
            UtilizationRow(
                day=(first + timedelta(days=day)).isoformat(),
                **{by: group},
                simulated=simulated,
                capacity_device_hours=total / 3600,
                allocated_device_hours=held / 3600,
                allocation_rate=held / total if total else None,
                busy_rate=sum(measured) / len(measured) if measured else None,
                busy_samples=len(measured or []),
            )
        )
    return rows


Key = tuple[str, bool, int]  # (group, simulated, day's index)
Holders = dict[tuple[str, int], list[tuple[datetime, datetime, str]]]  # device: (from, to, org)


def _group(by: By, device: Device, org: str | None) -> str:
    return {"pool": device.pool, "model": device.model, "org": org or ""}[by]


def _capacity(
    devices: dict[tuple[str, int], Device],
    bounds: list[tuple[datetime, datetime]],
    now: datetime,
    by: By,
) -> dict[Key, float]:
    """Device-seconds installed by group and day (by organization: the whole center's, under
    the group "", which each organization's share is of)."""
    capacity: dict[Key, float] = defaultdict(float)
    for day, (start, end) in enumerate(bounds):
        seconds = _overlap(start, end, start, now)
        if by != "org":
            for device in devices.values():
                capacity[(_group(by, device, None), device.simulated, day)] += seconds
        else:
            for device in devices.values():
                capacity[("", device.simulated, day)] += seconds  # the center, for shares
    return capacity


def _allocated(
    session: Session,
    devices: dict[tuple[str, int], Device],
    bounds: list[tuple[datetime, datetime]],
    now: datetime,
    by: By,
) -> tuple[dict[Key, float], Holders]:
    """Device-seconds held by group and day (a share counted as its share), and who held each
    device when (so a sample can be given to the organization holding the device)."""
    lo, hi = bounds[0][0], min(bounds[-1][1], now)
    holders: Holders = defaultdict(list)
    allocated: dict[Key, float] = defaultdict(float)
    for rep in census.held_between(session, lo, hi):
        org = rep.org_id
        end_at = rep.ended_at or now
        for index, milli in rep.devices:
            dev = devices.get((rep.node_id, index))
            if dev is None:
                continue
            holders[(dev.node_id, dev.index)].append((rep.bound_at, end_at, org))
            share = milli / 1000
            for day, (start, end) in enumerate(bounds):
                held = _overlap(rep.bound_at, end_at, start, min(end, now))
                if held:
                    allocated[(_group(by, dev, org), dev.simulated, day)] += share * held
    return allocated, holders


def _busy(
    session: Session,
    devices: dict[tuple[str, int], Device],
    bounds: list[tuple[datetime, datetime]],
    holders: Holders,
    by: By,
    now: datetime,
) -> dict[Key, list[float]]:
    """The utilization samples by group and day; by organization, only those taken while one
    of its replicas held the device."""
    lo, hi = bounds[0][0], min(bounds[-1][1], now)
    samples = session.execute(
        select(
            DeviceSampleRow.node_id,
            DeviceSampleRow.index,
            DeviceSampleRow.at,
            DeviceSampleRow.utilization,
        ).where(DeviceSampleRow.at >= lo, DeviceSampleRow.at < hi)
    ).all()
    busy: dict[Key, list[float]] = defaultdict(list)
    for node_id, index, at, util in samples:
        sampled = devices.get((node_id, index))
        if sampled is None:
            continue
        day = next(i for i, (s, e) in enumerate(bounds) if s <= at < e)
        if by == "org":
            spans = holders.get((node_id, index), [])
            holder = next((o for s, e, o in spans if s <= at < e), None)
            if holder is None:
                continue
            busy[(holder, sampled.simulated, day)].append(util)
        else:
            busy[(_group(by, sampled, None), sampled.simulated, day)].append(util)
    return busy


def utilization_page(
    session: Session,
    who: Principal,
    *,
    by: By,
    first: date,
    days: int,
    zone: str,
    now: datetime,
) -> UtilizationPage:
    """`utilization` as the API answers it: each row names its group under `by` alone (the
    route answers with `exclude_unset`)."""
    rows = utilization(session, who, by=by, first=first, days=days, zone=zone, now=now)
    return UtilizationPage(items=rows, next_cursor=None)


def idle(session: Session, who: Principal, *, now: datetime) -> list[IdleReplica]:
    """Running replicas whose devices were all measured under 5% busy for the last 30 minutes
    (each device sampled at least twice in that window, the first at its start). Center admins
    see all; organization admins their organization's."""
    if not (who.is_admin or who.role is Role.ORG_ADMIN):
        raise Forbidden("idle allocations are for admins")
    since = now - IDLE_FOR
    devices = registered_devices(session)
    held = census.holding(session, org_id=None if who.is_admin else (who.org_id or ""))
    out: list[IdleReplica] = []
    for rep in held:
        if rep.state != "running" or rep.bound_at > since or not rep.devices:
            continue
        worst = 0.0
        flagged = True
        for index, _ in rep.devices:
            found = session.execute(
                select(DeviceSampleRow.at, DeviceSampleRow.utilization).where(
                    DeviceSampleRow.node_id == rep.node_id,
                    DeviceSampleRow.index == index,
                    DeviceSampleRow.at >= since - timedelta(minutes=2),
                    DeviceSampleRow.at <= now,
                )
            ).all()
            covers = found and min(at for at, _ in found) <= since + timedelta(minutes=2)
            if len(found) < 2 or not covers or max(u for _, u in found) >= IDLE_SHARE:
                flagged = False
                break
            worst = max(worst, max(u for _, u in found))
        if flagged:
            model = devices.get((rep.node_id, rep.devices[0][0]))
            out.append(
                IdleReplica(
                    job_id=rep.job_id,
                    org_id=rep.org_id,
                    project_id=rep.project_id,
                    replica=rep.index,
                    node_id=rep.node_id,
                    devices=[index for index, _ in rep.devices],
                    model=model.model if model else None,
                    since=rep.started_at or rep.bound_at,
                    max_utilization=worst,
                )
            )
    return out


def idle_page(session: Session, who: Principal, *, now: datetime) -> IdleReplicas:
    """`idle` as the API answers it: one page."""
    return IdleReplicas(items=idle(session, who, now=now), next_cursor=None)
